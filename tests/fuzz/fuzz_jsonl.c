/*
 * fuzz_jsonl.c - libFuzzer harness for lb_jsonl_parse (parsers/jsonl.c).
 *
 * Scratch is exactly n bytes on the heap, so ASan catches any write past the
 * contract's minimum. Every slice of an accepted line lies in the line or in
 * scratch, ROLE and TYPE obey their limits, ts_ms is what lb_ts_parse says,
 * and the record survives a round trip: its four values, escaped with
 * lb_json_escape into a fresh object, parse back to the same bytes.
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
    free(scratch);
    return 0;
}
