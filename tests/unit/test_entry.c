/*
 * test_entry.c - the one entry decoder (bridge/entry.c) that mirror, export
 * and parity share, on reply trees built by hand (no Redis): both encodings,
 * the first occurrence of a field wins, the timestamp from the ID, src/off
 * (provenance), and mirror's verdict with the order in which it is told.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "entry.h"

/* An entry [id, [f1, v1, ...]] in static storage (at most 8 pairs). */
struct fake {
    redisReply e, id, fields, kv[16];
    redisReply *top[2], *fv[16];
};

static const redisReply *fake_entry(struct fake *f, const char *id, const char *const *kv, size_t n)
{
    memset(f, 0, sizeof(*f));
    f->id.type = REDIS_REPLY_STRING;
    f->id.str = (char *)id;
    f->id.len = strlen(id);
    for (size_t i = 0; i < n; i++) {
        f->kv[i].type = REDIS_REPLY_STRING;
        f->kv[i].str = (char *)kv[i];
        f->kv[i].len = strlen(kv[i]);
        f->fv[i] = &f->kv[i];
    }
    f->fields.type = REDIS_REPLY_ARRAY;
    f->fields.elements = n;
    f->fields.element = f->fv;
    f->top[0] = &f->id;
    f->top[1] = &f->fields;
    f->e.type = REDIS_REPLY_ARRAY;
    f->e.elements = 2;
    f->e.element = f->top;
    return &f->e;
}

#define ENTRY(f, id, ...)                                                                          \
    fake_entry(f, id, (const char *const[]){__VA_ARGS__},                                          \
               sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static void assert_slice(struct lb_slice s, const char *want)
{
    if (s.n != strlen(want) || memcmp(s.p, want, s.n) != 0)
        fail_msg("got '%.*s', want '%s'", (int)s.n, s.p, want);
}

static void entry_fields_encoding_first_occurrence_wins(void **state)
{
    (void)state;
    struct lb_entry_decoder d;
    lb_entry_decoder_init(&d, "json_payload");
    struct fake f;
    struct lb_entry e;
    lb_entry_decode(&d,
                    ENTRY(&f, "1750233600123-7", "role", "web", "timestamp", "T1", "type", "login",
                          "data", "a|b", "role", "db", "src", "/var/log/a.log", "off", "120"),
                    &e);
    assert_null(lb_entry_verdict(&e));
    assert_slice(e.rec.role, "web");
    assert_slice(e.rec.ts, "T1");
    assert_slice(e.rec.type, "login");
    assert_slice(e.rec.data, "a|b");
    assert_true(e.has_src && e.has_off && e.off == 120);
    assert_slice(e.src, "/var/log/a.log");
    assert_true(e.id.ms == 1750233600123ULL && e.id.seq == 7);
    assert_string_equal(e.id_str, "1750233600123-7");
    assert_false(e.json);
    lb_entry_release(&d);
}

static void entry_json_encoding_members_and_non_string_values(void **state)
{
    (void)state;
    struct lb_entry_decoder d;
    lb_entry_decoder_init(&d, "json_payload");
    struct fake f;
    struct lb_entry e;
    lb_entry_decode(&d,
                    ENTRY(&f, "5-0", "src", "ignored", "json_payload",
                          "{\"role\":\"web\",\"timestamp\":1750233600,\"type\":\"pay\","
                          "\"data\":{\"k\":[1,2]},\"src\":\"/a\",\"off\":\"42\"}"),
                    &e);
    assert_null(lb_entry_verdict(&e));
    assert_true(e.json);
    assert_slice(e.rec.role, "web");
    assert_slice(e.rec.ts, "1750233600");
    assert_slice(e.rec.data, "{\"k\":[1,2]}");
    assert_slice(e.src, "/a");
    assert_true(e.has_off && e.off == 42);
    lb_entry_release(&d);
}

static void entry_timestamp_from_the_id_when_missing_or_empty(void **state)
{
    (void)state;
    struct lb_entry_decoder d;
    lb_entry_decoder_init(&d, "json_payload");
    struct fake f;
    struct lb_entry e;
    lb_entry_decode(&d, ENTRY(&f, "1750233600123-0", "role", "r", "type", "t", "timestamp", ""),
                    &e);
    assert_null(lb_entry_verdict(&e));
    assert_true(e.ts_from_id);
    assert_slice(e.rec.ts, "2025-06-18T08:00:00.123Z");
    assert_true(e.rec.ts_ms == 1750233600123LL);
    lb_entry_release(&d);
}

static void entry_verdicts_in_mirrors_order(void **state)
{
    (void)state;
    struct lb_entry_decoder d;
    lb_entry_decoder_init(&d, "json_payload");
    struct fake f;
    struct lb_entry e;
    lb_entry_decode(&d, ENTRY(&f, "1-0", "type", "t"), &e);
    assert_string_equal(lb_entry_verdict(&e), "no role");
    assert_false(e.why_first);
    lb_entry_decode(&d, ENTRY(&f, "1-0", "role", "r"), &e);
    assert_string_equal(lb_entry_verdict(&e), "no type");
    lb_entry_decode(&d, ENTRY(&f, "1-0", "role", "a|b", "type", "t"), &e);
    assert_string_equal(lb_entry_verdict(&e), "role contains '|', CR or LF");
    lb_entry_decode(&d, ENTRY(&f, "1-0", "role", "r", "type", ""), &e);
    assert_string_equal(lb_entry_verdict(&e), "empty type");
    lb_entry_decode(&d, ENTRY(&f, "1-0", "role", "r", "type", "t", "timestamp", "x|y"), &e);
    assert_string_equal(lb_entry_verdict(&e), "timestamp contains '|'");
    lb_entry_decode(&d, ENTRY(&f, "18446744073709551615-0", "role", "r", "type", "t"), &e);
    assert_string_equal(lb_entry_verdict(&e),
                        "no timestamp, and the ID's milliseconds are out of range");
    /* a json field that is not an object: decided before any src rule */
    lb_entry_decode(&d, ENTRY(&f, "1-0", "src", "/a", "json_payload", "[1]"), &e);
    assert_string_equal(lb_entry_verdict(&e),
                        "no role field, and the json field is not a JSON object");
    assert_true(e.why_first);
    assert_false(e.malformed);
    lb_entry_release(&d);
}

static void entry_malformed_is_named(void **state)
{
    (void)state;
    struct lb_entry_decoder d;
    lb_entry_decoder_init(&d, "json_payload");
    redisReply nil = {.type = REDIS_REPLY_NIL};
    struct lb_entry e;
    lb_entry_decode(&d, &nil, &e);
    assert_true(e.malformed && e.why_first);
    assert_string_equal(e.why, "not a stream entry");
    assert_string_equal(e.id_str, "?");
    struct fake f;
    const redisReply *ent = ENTRY(&f, "1-0", "role", "r");
    f.fields.type = REDIS_REPLY_NIL;
    lb_entry_decode(&d, ent, &e);
    assert_true(e.malformed);
    assert_string_equal(e.why, "entry without fields");
    assert_string_equal(e.id_str, "1-0");
    lb_entry_release(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(entry_fields_encoding_first_occurrence_wins),
        cmocka_unit_test(entry_json_encoding_members_and_non_string_values),
        cmocka_unit_test(entry_timestamp_from_the_id_when_missing_or_empty),
        cmocka_unit_test(entry_verdicts_in_mirrors_order),
        cmocka_unit_test(entry_malformed_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
