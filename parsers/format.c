/*
 * format.c - record -> legacy line (mirror, export, parity) and the small text
 * helpers the writers need: strict UTF-8 validation and JSON string escaping.
 *
 * The line escape is deliberately one-way (DESIGN.md section 5): only CR and
 * LF become the two-character "\r" and "\n", because they would end the line;
 * backslashes are left alone since legacy DATA is full of JSON's \" and
 * doubling them would change every such line. Parity applies the same escape
 * to both sides before comparing.
 */
#include "record.h"

#include <stdint.h>
#include <string.h>

/* ---- UTF-8 ------------------------------------------------------------ */

/* Well-formed sequences per Unicode 15 table 3-7: the second byte's range
 * depends on the lead byte, which rules out overlongs (C0, C1, E0 80..9F,
 * F0 80..8F), surrogates (ED A0..BF) and code points above U+10FFFF (F4 90..,
 * F5..FF). */
size_t lb_utf8_seq_len(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    if (n == 0)
        return 0;
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlongs */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing past U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

int lb_utf8_valid(const char *s, size_t n)
{
    if (n == 0) /* s may be NULL then */
        return 1;
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + n;
    while (p < end) {
        /* Log text is mostly ASCII: skip it eight bytes at a time. */
        if (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if ((w & UINT64_C(0x8080808080808080)) == 0) {
                p += 8;
                continue;
            }
        }
        size_t len = lb_utf8_seq_len((const char *)p, (size_t)(end - p));
        if (len == 0)
            return 0;
        p += len;
    }
    return 1;
}

/* ---- legacy line ------------------------------------------------------ */

int lb_format_field_ok(const char *s, size_t n)
{
    if (n == 0 || n > LB_FIELD_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '|' || s[i] == '\r' || s[i] == '\n')
            return 0;
    return 1;
}

size_t lb_format_escaped_len(const char *s, size_t n)
{
    size_t extra = 0;
    for (size_t i = 0; i < n; i++)
        extra += (size_t)(s[i] == '\r') + (size_t)(s[i] == '\n');
    return n + extra;
}

size_t lb_format_escape(const char *s, size_t n, char *out, size_t *escapes)
{
    if (n == 0) /* s may be NULL then: an empty slice built by a caller */
        return 0;
    char *o = out;
    size_t from = 0, esc = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\r' && s[i] != '\n')
            continue;
        memcpy(o, s + from, i - from);
        o += i - from;
        *o++ = '\\';
        *o++ = s[i] == '\r' ? 'r' : 'n';
        esc++;
        from = i + 1;
    }
    memcpy(o, s + from, n - from);
    o += n - from;
    if (escapes != NULL)
        *escapes += esc;
    return (size_t)(o - out);
}

size_t lb_format_line_len(const struct lb_record *rec)
{
    return lb_format_escaped_len(rec->role.p, rec->role.n) +
           lb_format_escaped_len(rec->ts.p, rec->ts.n) +
           lb_format_escaped_len(rec->type.p, rec->type.n) +
           lb_format_escaped_len(rec->data.p, rec->data.n) + 4;
}

size_t lb_format_line(const struct lb_record *rec, char *out, size_t cap, size_t *escapes)
{
    const size_t len = lb_format_line_len(rec);
    if (len > cap)
        return 0;
    char *o = out;
    o += lb_format_escape(rec->role.p, rec->role.n, o, escapes);
    *o++ = '|';
    o += lb_format_escape(rec->ts.p, rec->ts.n, o, escapes);
    *o++ = '|';
    o += lb_format_escape(rec->type.p, rec->type.n, o, escapes);
    *o++ = '|';
    o += lb_format_escape(rec->data.p, rec->data.n, o, escapes);
    *o++ = '\n';
    return (size_t)(o - out);
}

/* ---- JSON string body ------------------------------------------------- */

/* Bytes the escaped form of c takes: 1 (as is), 2 (short form) or 6 (\u00XX). */
static size_t json_esc_width(unsigned char c)
{
    if (c == '"' || c == '\\')
        return 2;
    if (c >= 0x20 && c != 0x7f)
        return 1;
    if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
        return 2;
    return 6;
}

size_t lb_json_escaped_len(const char *s, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += json_esc_width((unsigned char)s[i]);
    return len;
}

size_t lb_json_escape(const char *s, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    if (n == 0)
        return 0;
    char *o = out;
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)s[i];
        const size_t w = json_esc_width(c);
        if (w == 1)
            continue;
        memcpy(o, s + from, i - from);
        o += i - from;
        from = i + 1;
        *o++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *o++ = (char)c;
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 0xf];
            break;
        }
    }
    memcpy(o, s + from, n - from);
    o += n - from;
    return (size_t)(o - out);
}
