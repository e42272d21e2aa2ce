/*
 * jsonl.c - the `--format jsonl` line: one JSON object with the keys role,
 * timestamp, type and data (DESIGN.md section 1).
 *
 * A small hand-rolled JSON scanner rather than cJSON: parsers/ is pure and
 * allocation-free, and all we need is to validate the object, pick four keys
 * and either unescape a string or compact a value. Strings without escapes
 * stay slices of the line; unescaped strings and compacted data are written
 * into the caller's scratch. Every byte written there comes from a disjoint
 * part of the line and is never longer than it, so scratch of n bytes is
 * always enough.
 *
 * Decisions where DESIGN.md is silent:
 *  - A line of JSON whitespace only is a bad line with reason `fields`, like a
 *    line of spaces in the pipe format; empty or "\r" alone is blank.
 *  - Syntax errors, a non-object, role/timestamp/type not a string, a lone
 *    UTF-16 surrogate in \u escapes, more than LB_JSONL_DEPTH nested
 *    containers (counting the outer object) -> `json`.
 *  - A key among role/timestamp/type/data given twice -> `json`: different
 *    consumers would disagree on which one counts, so the line goes to the
 *    DLQ instead of being guessed at. Other keys are ignored (duplicates too).
 *  - A missing role, timestamp, type or data -> `fields` (data may be "" or
 *    null, but it must be there, as DATA must be in the pipe format).
 *  - Bytes >= 0x80 inside strings are taken as they are; UTF-8 validity is
 *    the caller's check (`invalid_utf8`, json encoding only), as for pipe.
 *  - Key names are compared after unescaping ("r\u006fle" is role).
 *  - Then the pipe checks, in the same order: role, timestamp, type.
 *  - If scratch is smaller than the contract asks and turns out too small,
 *    the result is LB_REASON_TOO_LONG; nothing is written past cap.
 */
#include "record.h"

#include <stdint.h>
#include <string.h>

#define LB_JSONL_DEPTH 64

enum jl_key { JL_ROLE, JL_TS, JL_TYPE, JL_DATA, JL_NKEYS, JL_OTHER = JL_NKEYS };

struct jl {
    const char *p; /* cursor */
    const char *end;
    char *out; /* scratch */
    size_t cap;
    size_t used;
    enum lb_reason err; /* why the last -1 was returned */
};

static int jl_fail(struct jl *j, enum lb_reason r)
{
    j->err = r;
    return -1;
}

static void jl_skip_ws(struct jl *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int jl_emit(struct jl *j, const char *s, size_t n)
{
    if (n > j->cap - j->used)
        return jl_fail(j, LB_REASON_TOO_LONG);
    memcpy(j->out + j->used, s, n);
    j->used += n;
    return 0;
}

static int jl_hex4(const char *s, unsigned *v)
{
    unsigned r = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = (unsigned char)s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        r = r << 4 | d;
    }
    *v = r;
    return 0;
}

static size_t jl_utf8_put(unsigned cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * The cursor is on a string's opening quote. Validates the string and leaves
 * the cursor after its closing quote. *val is the string's content: a slice of
 * the line when it has no escapes, else its unescaped bytes in dst. With dst
 * NULL the string is only validated. When the unescaped form exceeds dstcap,
 * *overflow is set and writing stops, but validation goes on.
 */
static int jl_string(struct jl *j, char *dst, size_t dstcap, struct lb_slice *val, int *overflow)
{
    const char *start = ++j->p;
    const char *p = start;
    const char *end = j->end;

    /* Fast path: most strings have no escapes and need no copy. */
    while (p < end && *p != '"' && *p != '\\') {
        if ((unsigned char)*p < 0x20)
            return jl_fail(j, LB_REASON_JSON);
        p++;
    }
    if (p == end)
        return jl_fail(j, LB_REASON_JSON);
    if (*p == '"') {
        val->p = start;
        val->n = (size_t)(p - start);
        j->p = p + 1;
        if (overflow != NULL)
            *overflow = 0;
        return 0;
    }

    size_t o = 0;
    int over = 0;
    const size_t prefix = (size_t)(p - start);
    if (dst != NULL) {
        if (prefix > dstcap)
            over = 1;
        else
            memcpy(dst, start, prefix);
    }
    o = prefix;

    while (p < end) {
        unsigned char c = (unsigned char)*p;
        char tmp[4];
        size_t k;
        if (c == '"')
            break;
        if (c < 0x20)
            return jl_fail(j, LB_REASON_JSON);
        if (c != '\\') {
            tmp[0] = (char)c;
            k = 1;
            p++;
        } else if (end - p >= 2 && p[1] == 'u') {
            unsigned cp, lo;
            if (end - p < 6 || jl_hex4(p + 2, &cp) != 0)
                return jl_fail(j, LB_REASON_JSON);
            p += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return jl_fail(j, LB_REASON_JSON); /* low surrogate first */
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || jl_hex4(p + 2, &lo) != 0 ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return jl_fail(j, LB_REASON_JSON); /* high surrogate alone */
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            k = jl_utf8_put(cp, tmp);
        } else {
            if (end - p < 2)
                return jl_fail(j, LB_REASON_JSON);
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
                tmp[0] = p[1];
                break;
            case 'b':
                tmp[0] = '\b';
                break;
            case 'f':
                tmp[0] = '\f';
                break;
            case 'n':
                tmp[0] = '\n';
                break;
            case 'r':
                tmp[0] = '\r';
                break;
            case 't':
                tmp[0] = '\t';
                break;
            default:
                return jl_fail(j, LB_REASON_JSON);
            }
            k = 1;
            p += 2;
        }
        if (dst != NULL && !over) {
            if (k > dstcap - o)
                over = 1;
            else
                memcpy(dst + o, tmp, k);
        }
        o += k;
    }
    if (p == end)
        return jl_fail(j, LB_REASON_JSON);
    j->p = p + 1;
    val->p = dst;
    val->n = o;
    if (overflow != NULL)
        *overflow = over;
    return 0;
}

/* A JSON number per RFC 8259; the caller checks what follows it. */
static int jl_number(struct jl *j)
{
    const char *p = j->p, *end = j->end;
    if (p < end && *p == '-')
        p++;
    if (p < end && *p == '0') {
        p++;
    } else if (p < end && *p >= '1' && *p <= '9') {
        while (p < end && (unsigned char)(*p - '0') <= 9)
            p++;
    } else {
        return jl_fail(j, LB_REASON_JSON);
    }
    if (p < end && *p == '.') {
        const char *d = ++p;
        while (p < end && (unsigned char)(*p - '0') <= 9)
            p++;
        if (p == d)
            return jl_fail(j, LB_REASON_JSON);
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        const char *d = p;
        while (p < end && (unsigned char)(*p - '0') <= 9)
            p++;
        if (p == d)
            return jl_fail(j, LB_REASON_JSON);
    }
    j->p = p;
    return 0;
}

static int jl_literal(struct jl *j, const char *word, size_t n)
{
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return jl_fail(j, LB_REASON_JSON);
    j->p += n;
    return 0;
}

/*
 * Any JSON value at the cursor (whitespace already skipped). With emit, its
 * compact text is appended to scratch: everything but whitespace outside
 * strings, strings as their original (still escaped) text.
 */
static int jl_value(struct jl *j, int depth, int emit)
{
    if (j->p == j->end)
        return jl_fail(j, LB_REASON_JSON);
    const char *start = j->p;
    const char c = *j->p;
    int rc;
    switch (c) {
    case '"': {
        struct lb_slice s;
        rc = jl_string(j, NULL, 0, &s, NULL);
        break;
    }
    case 't':
        rc = jl_literal(j, "true", 4);
        break;
    case 'f':
        rc = jl_literal(j, "false", 5);
        break;
    case 'n':
        rc = jl_literal(j, "null", 4);
        break;
    case '[':
    case '{': {
        const char close = c == '[' ? ']' : '}';
        if (depth > LB_JSONL_DEPTH)
            return jl_fail(j, LB_REASON_JSON);
        j->p++;
        if (emit && jl_emit(j, &c, 1) != 0)
            return -1;
        jl_skip_ws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return emit ? jl_emit(j, &close, 1) : 0;
        }
        for (;;) {
            if (c == '{') {
                if (j->p == j->end || *j->p != '"')
                    return jl_fail(j, LB_REASON_JSON);
                if (jl_value(j, depth, emit) != 0) /* the key: a string */
                    return -1;
                jl_skip_ws(j);
                if (j->p == j->end || *j->p != ':')
                    return jl_fail(j, LB_REASON_JSON);
                j->p++;
                if (emit && jl_emit(j, ":", 1) != 0)
                    return -1;
                jl_skip_ws(j);
            }
            if (jl_value(j, depth + 1, emit) != 0)
                return -1;
            jl_skip_ws(j);
            if (j->p == j->end)
                return jl_fail(j, LB_REASON_JSON);
            if (*j->p == close) {
                j->p++;
                return emit ? jl_emit(j, &close, 1) : 0;
            }
            if (*j->p != ',')
                return jl_fail(j, LB_REASON_JSON);
            j->p++;
            if (emit && jl_emit(j, ",", 1) != 0)
                return -1;
            jl_skip_ws(j);
        }
    }
    default:
        rc = jl_number(j);
        break;
    }
    if (rc != 0)
        return -1;
    return emit ? jl_emit(j, start, (size_t)(j->p - start)) : 0;
}

static enum jl_key jl_key_of(const struct lb_slice *k)
{
    switch (k->n) {
    case 4:
        if (memcmp(k->p, "role", 4) == 0)
            return JL_ROLE;
        if (memcmp(k->p, "type", 4) == 0)
            return JL_TYPE;
        if (memcmp(k->p, "data", 4) == 0)
            return JL_DATA;
        break;
    case 9:
        if (memcmp(k->p, "timestamp", 9) == 0)
            return JL_TS;
        break;
    }
    return JL_OTHER;
}

/* Same rule as pipe.c's field check; kept local because record.h is the only
 * shared header and it does not export it. */
static int jl_field_ok(const struct lb_slice *s)
{
    if (s->n == 0 || s->n > LB_FIELD_MAX)
        return 0;
    const unsigned char *p = (const unsigned char *)s->p;
    unsigned bad = 0;
    for (size_t i = 0; i < s->n; i++)
        bad |= (unsigned)(p[i] < 0x20) | (unsigned)(p[i] == 0x7f);
    return !bad;
}

/* The top-level object: fills vals[] and seen[], or fails with j->err. */
static int jl_object(struct jl *j, struct lb_slice *vals, int *seen)
{
    if (j->p == j->end || *j->p != '{')
        return jl_fail(j, LB_REASON_JSON);
    j->p++;
    jl_skip_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        if (j->p == j->end || *j->p != '"')
            return jl_fail(j, LB_REASON_JSON);
        /* Known keys are at most 9 bytes; a longer escaped key overflows
         * this buffer and is simply not one of them. */
        char kbuf[16];
        struct lb_slice key;
        int over = 0;
        if (jl_string(j, kbuf, sizeof(kbuf), &key, &over) != 0)
            return -1;
        const enum jl_key k = over ? JL_OTHER : jl_key_of(&key);
        jl_skip_ws(j);
        if (j->p == j->end || *j->p != ':')
            return jl_fail(j, LB_REASON_JSON);
        j->p++;
        jl_skip_ws(j);
        if (j->p == j->end)
            return jl_fail(j, LB_REASON_JSON);

        if (k != JL_OTHER) {
            if (seen[k])
                return jl_fail(j, LB_REASON_JSON);
            seen[k] = 1;
        }
        if (k != JL_OTHER && *j->p == '"') {
            /* The string goes straight to scratch; a slice of the line when
             * it has no escapes. */
            char *dst = j->out + j->used;
            if (jl_string(j, dst, j->cap - j->used, &vals[k], &over) != 0)
                return -1;
            if (over)
                return jl_fail(j, LB_REASON_TOO_LONG);
            if (vals[k].p == dst)
                j->used += vals[k].n;
        } else if (k == JL_DATA) {
            const size_t at = j->used;
            if (jl_value(j, 2, 1) != 0)
                return -1;
            vals[k].p = j->out + at;
            vals[k].n = j->used - at;
        } else if (k != JL_OTHER) {
            return jl_fail(j, LB_REASON_JSON); /* role/timestamp/type not a string */
        } else if (jl_value(j, 2, 0) != 0) {
            return -1;
        }

        jl_skip_ws(j);
        if (j->p == j->end)
            return jl_fail(j, LB_REASON_JSON);
        if (*j->p == '}') {
            j->p++;
            return 0;
        }
        if (*j->p != ',')
            return jl_fail(j, LB_REASON_JSON);
        j->p++;
        jl_skip_ws(j);
    }
}

enum lb_reason lb_jsonl_parse(const char *line, size_t n, struct lb_record *rec, char *scratch,
                              size_t cap)
{
    if (n > 0 && line[n - 1] == '\r')
        n--;
    if (n == 0)
        return LB_PARSE_BLANK;

    /* A stand-in so that scratch + used is never arithmetic on NULL. */
    char none[1];
    struct jl j = {
        .p = line, .end = line + n, .out = scratch ? scratch : none, .cap = scratch ? cap : 0};
    jl_skip_ws(&j);
    if (j.p == j.end)
        return LB_REASON_FIELDS;

    struct lb_slice vals[JL_NKEYS] = {{NULL, 0}};
    int seen[JL_NKEYS] = {0};
    if (jl_object(&j, vals, seen) != 0)
        return j.err;
    jl_skip_ws(&j);
    if (j.p != j.end)
        return LB_REASON_JSON;

    for (int k = 0; k < JL_NKEYS; k++)
        if (!seen[k])
            return LB_REASON_FIELDS;
    if (!jl_field_ok(&vals[JL_ROLE]))
        return LB_REASON_ROLE;
    int64_t ms;
    if (lb_ts_parse(vals[JL_TS].p, vals[JL_TS].n, &ms) != 0)
        return LB_REASON_TIMESTAMP;
    if (!jl_field_ok(&vals[JL_TYPE]))
        return LB_REASON_TYPE;

    rec->role = vals[JL_ROLE];
    rec->ts = vals[JL_TS];
    rec->type = vals[JL_TYPE];
    rec->data = vals[JL_DATA];
    rec->ts_ms = ms;
    return LB_PARSE_OK;
}
