/*
 * fuzz_jsonl.c - libFuzzer harness for lb_jsonl_parse (parsers/jsonl.c).
 *
 * Scratch is exactly n bytes on the heap, so ASan catches any write past the
 * contract's minimum. Every slice of an accepted line lies in the line or in
 * scratch, ROLE and TYPE obey their limits, ts_ms is what lb_ts_parse says,
 * and the record survives a round trip: its four values, escaped with
 * lb_json_escape into a fresh object, parse back to the same bytes.
 *
 * Compaction has its own oracle: the input is also spliced raw as the data
 * value of an object; when that parses and the value is not a string, data
 * must be the input with JSON whitespace outside strings removed (or a prefix
 * of that, when the input held ",\"k\":v" too), and must be its own compact
 * form.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int within(struct lb_slice s, const char *base, size_t n)
{
    return s.p >= base && s.n <= n && (size_t)(s.p - base) <= n - s.n;
}

static int in_line_or_scratch(struct lb_slice s, const char *line, const char *scratch, size_t n)
{
    return within(s, line, n) || within(s, scratch, n);
}

static int field_ok(struct lb_slice s)
{
    if (s.n < 1 || s.n > LB_FIELD_MAX)
        return 0;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

static int same(struct lb_slice a, struct lb_slice b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static char *put(char *o, const char *s)
{
    size_t n = strlen(s);
    memcpy(o, s, n);
    return o + n;
}

static char *put_string(char *o, struct lb_slice s)
{
    *o++ = '"';
    o += lb_json_escape(s.p, s.n, o);
    *o++ = '"';
    return o;
}

static void check_round_trip(const struct lb_record *r)
{
    const size_t n =
        lb_json_escaped_len(r->role.p, r->role.n) + lb_json_escaped_len(r->ts.p, r->ts.n) +
        lb_json_escaped_len(r->type.p, r->type.n) + lb_json_escaped_len(r->data.p, r->data.n) + 64;
    char *line = malloc(n);
    char *scratch = malloc(n);
    CHECK(line != NULL && scratch != NULL);
    char *o = line;
    o = put(o, "{\"role\":");
    o = put_string(o, r->role);
    o = put(o, ",\"timestamp\":");
    o = put_string(o, r->ts);
    o = put(o, ",\"type\":");
    o = put_string(o, r->type);
    o = put(o, ",\"data\":");
    o = put_string(o, r->data);
    o = put(o, "}");
    const size_t len = (size_t)(o - line);
    CHECK(len <= n);

    struct lb_record back;
    CHECK(lb_jsonl_parse(line, len, &back, scratch, len) == LB_PARSE_OK);
    CHECK(same(back.role, r->role) && same(back.ts, r->ts));
    CHECK(same(back.type, r->type) && same(back.data, r->data));
    CHECK(back.ts_ms == r->ts_ms);
    free(line);
    free(scratch);
}

/* JSON whitespace outside strings removed: what compaction should give,
 * computed without a JSON parser. */
static size_t strip_ws(const char *s, size_t n, char *out)
{
    size_t o = 0;
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        const char c = s[i];
        if (in_str) {
            out[o++] = c;
            if (c == '\\' && i + 1 < n)
                out[o++] = s[++i];
            else if (c == '"')
                in_str = 0;
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            out[o++] = c;
            in_str = c == '"';
        }
    }
    return o;
}

/* DATA text v spliced raw into an object; returns the parse result. */
static enum lb_reason parse_spliced(const char *v, size_t n, struct lb_record *r, char **bufs)
{
    static const char head[] = "{\"role\":\"r\",\"timestamp\":\"0\",\"type\":\"t\",\"data\":";
    const size_t len = sizeof(head) - 1 + n + 1;
    bufs[0] = malloc(len);
    bufs[1] = malloc(len);
    CHECK(bufs[0] != NULL && bufs[1] != NULL);
    memcpy(bufs[0], head, sizeof(head) - 1);
    if (n > 0)
        memcpy(bufs[0] + sizeof(head) - 1, v, n);
    bufs[0][len - 1] = '}';
    return lb_jsonl_parse(bufs[0], len, r, bufs[1], len);
}

static void check_compaction(const char *v, size_t n)
{
    char *b1[2], *b2[2];
    struct lb_record r, r2;
    if (parse_spliced(v, n, &r, b1) == LB_PARSE_OK) {
        size_t i = 0;
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == '\n' || v[i] == '\r'))
            i++;
        if (i < n && v[i] != '"') { /* a string is unescaped, not compacted */
            char *want = malloc(n + 1);
            CHECK(want != NULL);
            const size_t wn = strip_ws(v, n, want);
            CHECK(r.data.n > 0 && r.data.n <= wn && memcmp(r.data.p, want, r.data.n) == 0);
            free(want);
            /* compact text is valid JSON and its own compact form */
            CHECK(parse_spliced(r.data.p, r.data.n, &r2, b2) == LB_PARSE_OK);
            CHECK(same(r.data, r2.data));
            free(b2[0]);
            free(b2[1]);
        }
    }
    free(b1[0]);
    free(b1[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *line = (const char *)data;
    char *scratch = malloc(size ? size : 1);
    CHECK(scratch != NULL);
    struct lb_record r;
    const enum lb_reason rc = lb_jsonl_parse(line, size, &r, scratch, size);
    CHECK(rc != LB_REASON_TOO_LONG); /* n bytes of scratch are always enough */
    CHECK(lb_reason_name(rc) != NULL);

    if (rc == LB_PARSE_BLANK) {
        CHECK(size == 0 || (size == 1 && line[0] == '\r'));
    } else if (rc == LB_PARSE_OK) {
        CHECK(in_line_or_scratch(r.role, line, scratch, size));
        CHECK(in_line_or_scratch(r.ts, line, scratch, size));
        CHECK(in_line_or_scratch(r.type, line, scratch, size));
        CHECK(in_line_or_scratch(r.data, line, scratch, size));
        CHECK(field_ok(r.role) && field_ok(r.type));
        int64_t ms;
        CHECK(lb_ts_parse(r.ts.p, r.ts.n, &ms) == 0 && ms == r.ts_ms);
        check_round_trip(&r);
    }
    check_compaction(line, size);
    free(scratch);
    return 0;
}
