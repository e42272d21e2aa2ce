/*
 * fuzz_pipe.c - libFuzzer harness for lb_pipe_parse (parsers/pipe.c).
 *
 * Beyond "never crashes": every slice of an accepted line lies inside the
 * line, ROLE and TYPE obey their limits, ts_ms is what lb_ts_parse says, and a
 * line with no CR or LF in it comes back byte for byte from lb_format_line
 * (mirror's output equals the file's line).
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

static int field_ok(struct lb_slice s)
{
    if (s.n < 1 || s.n > LB_FIELD_MAX)
        return 0;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c < 0x20 || c == 0x7f || c == '|')
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *line = (const char *)data;
    struct lb_record r;
    const enum lb_reason rc = lb_pipe_parse(line, size, &r);
    CHECK(lb_reason_name(rc) != NULL);

    if (rc == LB_PARSE_BLANK) {
        CHECK(size == 0 || (size == 1 && line[0] == '\r'));
        return 0;
    }
    if (rc != LB_PARSE_OK) {
        CHECK(rc == LB_REASON_FIELDS || rc == LB_REASON_ROLE || rc == LB_REASON_TIMESTAMP ||
              rc == LB_REASON_TYPE);
        if (rc == LB_REASON_FIELDS) {
            size_t bars = 0;
            for (size_t i = 0; i < size; i++)
                bars += line[i] == '|';
            CHECK(bars < 3);
        }
        return 0;
    }

    CHECK(within(r.role, line, size) && within(r.ts, line, size));
    CHECK(within(r.type, line, size) && within(r.data, line, size));
    CHECK(r.role.p == line);
    CHECK(field_ok(r.role) && field_ok(r.type));
    int64_t ms;
    CHECK(lb_ts_parse(r.ts.p, r.ts.n, &ms) == 0 && ms == r.ts_ms);

    if (memchr(line, '\r', size) == NULL && memchr(line, '\n', size) == NULL) {
        const size_t need = lb_format_line_len(&r);
        CHECK(need == size + 1);
        char *out = malloc(need);
        CHECK(out != NULL);
        CHECK(lb_format_line(&r, out, need - 1, NULL) == 0);
        size_t esc = 0;
        CHECK(lb_format_line(&r, out, need, &esc) == need);
        CHECK(memcmp(out, line, size) == 0 && out[size] == '\n' && esc == 0);
        free(out);
    }
    return 0;
}
