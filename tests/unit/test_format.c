/*
 * test_format.c - parsers/format.c: the legacy line writer with its one-way
 * CR/LF escape (DESIGN.md section 5, mirror), the field check, strict UTF-8
 * validation (checked exhaustively against a reference decoder) and JSON
 * string escaping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "record.h"

static struct lb_slice sl(const char *s)
{
    return (struct lb_slice){s, strlen(s)};
}

static struct lb_record rec4(const char *role, const char *ts, const char *type, const char *data)
{
    struct lb_record r = {sl(role), sl(ts), sl(type), sl(data), 0};
    return r;
}

/* ---- legacy line ------------------------------------------------------ */

static void format_line_joins_fields(void **state)
{
    (void)state;
    struct lb_record r = rec4("web", "2025-06-18T10:00:00Z", "login", "a|b");
    char out[128];
    size_t esc = 0;
    size_t n = lb_format_line(&r, out, sizeof(out), &esc);
    const char *want = "web|2025-06-18T10:00:00Z|login|a|b\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    assert_int_equal(lb_format_line_len(&r), n);
    assert_int_equal(esc, 0);
}

static void format_line_allows_empty_data(void **state)
{
    (void)state;
    struct lb_record r = rec4("r", "0", "t", "");
    char out[16];
    assert_int_equal(lb_format_line(&r, out, sizeof(out), NULL), 7);
    assert_memory_equal(out, "r|0|t|\n", 7);
    r.data = (struct lb_slice){NULL, 0}; /* an empty slice may have no pointer */
    assert_int_equal(lb_format_line(&r, out, sizeof(out), NULL), 7);
    assert_memory_equal(out, "r|0|t|\n", 7);
}

static void format_line_escapes_cr_and_lf_everywhere(void **state)
{
    (void)state;
    struct lb_record r = rec4("r\r", "t\ns", "ty\r\npe", "line1\nline2\r\n\n");
    char out[128];
    size_t esc = 5; /* added to, not reset */
    size_t n = lb_format_line(&r, out, sizeof(out), &esc);
    const char *want = "r\\r|t\\ns|ty\\r\\npe|line1\\nline2\\r\\n\\n\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    assert_int_equal(esc, 5 + 8);
    assert_int_equal(lb_format_line_len(&r), n);
}

static void format_line_keeps_backslashes(void **state)
{
    (void)state;
    struct lb_record r = rec4("r", "0", "t", "{\"k\":\"a\\\"b\\\\n\"}");
    char out[128];
    size_t esc = 0;
    size_t n = lb_format_line(&r, out, sizeof(out), &esc);
    const char *want = "r|0|t|{\"k\":\"a\\\"b\\\\n\"}\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    assert_int_equal(esc, 0);
}

static void format_line_keeps_other_bytes(void **state)
{
    (void)state;
    const char data[] = "\x00\x01\t\x7f\xff";
    struct lb_record r = rec4("r", "0", "t", "");
    r.data = (struct lb_slice){data, sizeof(data) - 1};
    char out[32];
    size_t n = lb_format_line(&r, out, sizeof(out), NULL);
    assert_int_equal(n, 6 + 5 + 1);
    assert_memory_equal(out + 6, data, 5);
}

static void format_line_needs_room(void **state)
{
    (void)state;
    struct lb_record r = rec4("r", "0", "t", "a\nb");
    const size_t len = lb_format_line_len(&r);
    assert_int_equal(len, strlen("r|0|t|a\\nb\n"));
    char out[32];
    memset(out, '#', sizeof(out));
    assert_int_equal(lb_format_line(&r, out, len - 1, NULL), 0);
    assert_int_equal(out[0], '#'); /* nothing written */
    assert_int_equal(lb_format_line(&r, out, 0, NULL), 0);
    assert_int_equal(lb_format_line(&r, out, len, NULL), len);
    assert_memory_equal(out, "r|0|t|a\\nb\n", len);
    assert_int_equal(out[len], '#'); /* no NUL or anything else past len */
}

static void format_escape_counts(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
        size_t escapes;
    } cases[] = {
        {"", "", 0},
        {"plain", "plain", 0},
        {"\n", "\\n", 1},
        {"\r", "\\r", 1},
        {"\r\n", "\\r\\n", 2},
        {"a\\nb", "a\\nb", 0}, /* already a two-char escape: left as it is */
        {"\n\n\nx", "\\n\\n\\nx", 3},
        {"x\r", "x\\r", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[32];
        size_t esc = 0;
        const size_t n = strlen(cases[i].in);
        assert_int_equal(lb_format_escaped_len(cases[i].in, n), strlen(cases[i].out));
        size_t w = lb_format_escape(cases[i].in, n, out, &esc);
        assert_int_equal(w, strlen(cases[i].out));
        assert_memory_equal(out, cases[i].out, w);
        assert_int_equal(esc, cases[i].escapes);
        assert_int_equal(lb_format_escape(cases[i].in, n, out, NULL), w);
    }
}

static void format_field_ok_rules(void **state)
{
    (void)state;
    char f[300];
    memset(f, 'x', sizeof(f));
    assert_false(lb_format_field_ok(f, 0));
    assert_true(lb_format_field_ok(f, 1));
    assert_true(lb_format_field_ok(f, 255));
    assert_false(lb_format_field_ok(f, 256));
    assert_false(lb_format_field_ok("a|b", 3));
    assert_false(lb_format_field_ok("a\rb", 3));
    assert_false(lb_format_field_ok("a\nb", 3));
    assert_false(lb_format_field_ok("|", 1));
    assert_true(lb_format_field_ok("a b\t\x01", 5)); /* only what breaks the line */
    assert_true(lb_format_field_ok("\xc3\xa9", 2));
}

/* Whatever pipe accepts (without CR/LF), format gives back byte for byte. */
static void format_round_trips_pipe_lines(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "web|2025-06-18T10:00:00.123+02:00|login|user=1|x||",
        "a|1750240800|t|",
        "a b|1750240800123456789|t t|{\"json\":\"\\\"quoted\\\"\"}",
        "\xc3\xa9|2025-06-18 10:00:00|\xff|\x01\x7f",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        struct lb_record r;
        const size_t n = strlen(lines[i]);
        assert_int_equal(lb_pipe_parse(lines[i], n, &r), LB_PARSE_OK);
        char out[256];
        assert_int_equal(lb_format_line(&r, out, sizeof(out), NULL), n + 1);
        assert_memory_equal(out, lines[i], n);
        assert_int_equal(out[n], '\n');
    }
}

/* ---- UTF-8 ------------------------------------------------------------ */

static int valid(const char *s)
{
    return lb_utf8_valid(s, strlen(s));
}

static void format_utf8_accepts_well_formed(void **state)
{
    (void)state;
    assert_true(lb_utf8_valid("", 0));
    assert_true(lb_utf8_valid(NULL, 0));
    assert_true(valid("plain ascii, long enough for the word-at-a-time path"));
    assert_true(lb_utf8_valid("a\0b", 3));
    assert_true(valid("\x7f"));
    assert_true(valid("\xc2\x80"));         /* U+0080 */
    assert_true(valid("\xdf\xbf"));         /* U+07FF */
    assert_true(valid("\xe0\xa0\x80"));     /* U+0800 */
    assert_true(valid("\xed\x9f\xbf"));     /* U+D7FF */
    assert_true(valid("\xee\x80\x80"));     /* U+E000 */
    assert_true(valid("\xef\xbf\xbf"));     /* U+FFFF */
    assert_true(valid("\xf0\x90\x80\x80")); /* U+10000 */
    assert_true(valid("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
    assert_true(valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 done, and more ascii"));
}

static void format_utf8_rejects_ill_formed(void **state)
{
    (void)state;
    assert_false(valid("\x80")); /* lone continuation */
    assert_false(valid("\xbf"));
    assert_false(valid("\xc0\x80"));                 /* overlong NUL */
    assert_false(valid("\xc1\xbf"));                 /* overlong U+007F */
    assert_false(valid("\xe0\x80\x80"));             /* overlong */
    assert_false(valid("\xe0\x9f\xbf"));             /* overlong U+07FF */
    assert_false(valid("\xf0\x80\x80\x80"));         /* overlong */
    assert_false(valid("\xf0\x8f\xbf\xbf"));         /* overlong U+FFFF */
    assert_false(valid("\xed\xa0\x80"));             /* U+D800 surrogate */
    assert_false(valid("\xed\xbf\xbf"));             /* U+DFFF surrogate */
    assert_false(valid("\xed\xa0\xbd\xed\xb8\x80")); /* CESU-8 pair */
    assert_false(valid("\xf4\x90\x80\x80"));         /* U+110000 */
    assert_false(valid("\xf5\x80\x80\x80"));
    assert_false(valid("\xf8\x88\x80\x80\x80"));
    assert_false(valid("\xfe"));
    assert_false(valid("\xff"));
    assert_false(valid("\xc3")); /* truncated */
    assert_false(valid("\xe2\x82"));
    assert_false(valid("\xf0\x9f\x98"));
    assert_false(valid("\xe2\x28\xa1")); /* bad continuation */
    assert_false(valid("\xe2\x82\x28"));
    assert_false(valid("\xf0\x9f\x28\x80"));
    assert_false(valid("\xf0\x9f\x98\x28"));
    assert_false(valid("\xc3\xc3\xa9"));
    /* after and inside runs of ASCII the fast path skips */
    assert_false(valid("0123456789abcdef\xc0\x80"));
    assert_false(valid("0123456789abcdef\xe2\x82"));
    assert_false(valid("0123456\x80"));
    assert_false(valid("01234567\xff"
                       "89abcdef"));
}

/* An independent, slow decoder: code point by bit pattern, then the rules. */
static int ref_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], len, cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (unsigned k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

static void utf8_compare(const unsigned char *seq, size_t n)
{
    /* bare, and inside ASCII runs so both scanning paths see it */
    unsigned char buf[32];
    memcpy(buf, "abcdefgh", 8);
    memcpy(buf + 8, seq, n);
    memcpy(buf + 8 + n, "ijklmnop", 8);
    const int want = ref_valid(seq, n);
    if (lb_utf8_valid((const char *)seq, n) != want ||
        lb_utf8_valid((const char *)buf, n + 16) != want ||
        lb_utf8_valid((const char *)buf + 3, n + 5) != want) {
        print_error("utf8 mismatch on %zu bytes %02x %02x %02x %02x: want %d\n", n, seq[0],
                    n > 1 ? seq[1] : 0, n > 2 ? seq[2] : 0, n > 3 ? seq[3] : 0, want);
        fail();
    }
}

static void format_utf8_matches_reference_exhaustively(void **state)
{
    (void)state;
    unsigned char s[4];
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (unsigned char)a;
        utf8_compare(s, 1);
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            utf8_compare(s, 2);
            if (a < 0xE0)
                continue;
            for (unsigned c = 0; c < 256; c++) {
                s[2] = (unsigned char)c;
                if (a < 0xF0) {
                    utf8_compare(s, 3);
                    continue;
                }
                /* four bytes: every lead and second byte, the third and
                 * fourth at the edges of the continuation range */
                static const unsigned char edge[] = {0x00, 0x7F, 0x80, 0x8F,
                                                     0x90, 0xBF, 0xC0, 0xFF};
                if (memchr(edge, (int)c, sizeof(edge)) == NULL)
                    continue;
                utf8_compare(s, 3);
                for (size_t d = 0; d < sizeof(edge); d++) {
                    s[3] = edge[d];
                    utf8_compare(s, 4);
                }
            }
        }
    }
}

/* ---- JSON string body ------------------------------------------------- */

static void json_expect(const char *in, size_t n, const char *want)
{
    char out[256];
    memset(out, '#', sizeof(out));
    assert_int_equal(lb_json_escaped_len(in, n), strlen(want));
    size_t w = lb_json_escape(in, n, out);
    assert_int_equal(w, strlen(want));
    assert_memory_equal(out, want, w);
    assert_int_equal(out[w], '#');
}

static void format_json_escape_short_forms(void **state)
{
    (void)state;
    json_expect("", 0, "");
    json_expect(NULL, 0, "");
    json_expect("plain / text", 12, "plain / text");
    json_expect("\"", 1, "\\\"");
    json_expect("\\", 1, "\\\\");
    json_expect("\b\f\n\r\t", 5, "\\b\\f\\n\\r\\t");
    json_expect("a\"b\\c", 5, "a\\\"b\\\\c");
}

static void format_json_escape_control_bytes(void **state)
{
    (void)state;
    json_expect("\0", 1, "\\u0000");
    json_expect("\x01\x1f", 2, "\\u0001\\u001f");
    json_expect("\x0b", 1, "\\u000b");
    json_expect("\x7f", 1, "\\u007f");
    json_expect("x\x1by", 3, "x\\u001by");
    for (int c = 0; c < 0x20; c++) {
        char in[1] = {(char)c};
        char out[8];
        size_t w = lb_json_escape(in, 1, out);
        assert_int_equal(w, lb_json_escaped_len(in, 1));
        assert_true(w == 2 || w == 6);
        assert_int_equal(out[0], '\\');
    }
}

static void format_json_escape_copies_high_bytes(void **state)
{
    (void)state;
    json_expect("caf\xc3\xa9 \xf0\x9f\x98\x80", 10, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    json_expect("\x80\xff", 2, "\x80\xff"); /* copied even when not UTF-8 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_line_joins_fields),
        cmocka_unit_test(format_line_allows_empty_data),
        cmocka_unit_test(format_line_escapes_cr_and_lf_everywhere),
        cmocka_unit_test(format_line_keeps_backslashes),
        cmocka_unit_test(format_line_keeps_other_bytes),
        cmocka_unit_test(format_line_needs_room),
        cmocka_unit_test(format_escape_counts),
        cmocka_unit_test(format_field_ok_rules),
        cmocka_unit_test(format_round_trips_pipe_lines),
        cmocka_unit_test(format_utf8_accepts_well_formed),
        cmocka_unit_test(format_utf8_rejects_ill_formed),
        cmocka_unit_test(format_utf8_matches_reference_exhaustively),
        cmocka_unit_test(format_json_escape_short_forms),
        cmocka_unit_test(format_json_escape_control_bytes),
        cmocka_unit_test(format_json_escape_copies_high_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
