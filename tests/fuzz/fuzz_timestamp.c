/*
 * fuzz_timestamp.c - libFuzzer harness for lb_ts_parse and lb_ts_format_ms
 * (parsers/timestamp.c).
 *
 * Whatever parses, formatted and parsed again, gives the same ms: the
 * formatter's output is a form the parser accepts and the calendar maths in
 * both directions agree. The formatter is also fed the input's first eight
 * bytes as a raw int64, so every ms value (INT64_MIN/MAX too) gets formatted.
 * Only years 0000..9999 can round-trip: beyond them the formatter writes
 * ISO 8601's expanded years, which TIMESTAMP does not allow.
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

#define MS_YEAR_0 INT64_C(-62167219200000)    /* 0000-01-01T00:00:00.000Z */
#define MS_YEAR_9999 INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

static void round_trip(int64_t ms)
{
    char out[32];
    memset(out, 'x', sizeof(out));
    const size_t n = lb_ts_format_ms(ms, out);
    CHECK(n >= 24 && n < sizeof(out) && out[n] == '\0' && strlen(out) == n);
    CHECK(out[n - 1] == 'Z');
    if (ms < MS_YEAR_0 || ms > MS_YEAR_9999)
        return;
    CHECK(n == 24);
    int64_t back;
    CHECK(lb_ts_parse(out, n, &back) == 0);
    if (back != ms) {
        fprintf(stderr, "%lld -> %s -> %lld\n", (long long)ms, out, (long long)back);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t ms;
    if (lb_ts_parse((const char *)data, size, &ms) == 0) {
        CHECK(size > 0);
        round_trip(ms);
    }
    if (size >= 8) {
        int64_t raw;
        memcpy(&raw, data, 8);
        round_trip(raw);
    }
    return 0;
}
