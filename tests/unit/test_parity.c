/*
 * test_parity.c - the pure pieces of `logbridge parity`: comparable text,
 * hash, the sequence aligner, the --order any multiset, the report writers.
 *
 * The aligner is driven with synthetic sequences: an item is a "line value"
 * v (plus a variant for changed content); its content hash is a hash of
 * both, its offset 100*v, its time v. Every test states the exact counts a
 * person would give for the edit made.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "parity.h"
#include "parity_xml.h"

/* ---- text and hash ---------------------------------------------------------------- */

static struct lb_record rec_of(const char *role, const char *ts, const char *type, const char *data,
                               size_t data_n)
{
    struct lb_record r;
    memset(&r, 0, sizeof(r));
    r.role = (struct lb_slice){role, strlen(role)};
    r.ts = (struct lb_slice){ts, strlen(ts)};
    r.type = (struct lb_slice){type, strlen(type)};
    r.data = (struct lb_slice){data, data_n};
    return r;
}

static void parity_text_is_format_line_without_newline(void **state)
{
    (void)state;
    static const char *const datas[] = {
        "", "plain", "a\rb", "a\nb", "\r\n", "x\r\ny\n", "back\\slash \\r stays", "|||", "\r"};
    for (size_t i = 0; i < sizeof(datas) / sizeof(datas[0]); i++) {
        struct lb_record r =
            rec_of("web", "2025-06-18T10:00:00Z", "login", datas[i], strlen(datas[i]));
        char a[256], b[256];
        size_t la = lb_format_line(&r, a, sizeof(a), NULL);
        assert_true(la > 0);
        assert_true(lb_parity_text_cap(&r) <= sizeof(b));
        size_t lb = lb_parity_text(&r, b);
        assert_int_equal(lb, la - 1);
        assert_memory_equal(a, b, lb);
    }
    /* A value with CR inside escapes to the two characters a mirror file holds. */
    struct lb_record r = rec_of("w", "1", "t", "a\rb", 3);
    char out[64];
    size_t n = lb_parity_text(&r, out);
    assert_int_equal(n, strlen("w|1|t|a\\rb"));
    assert_memory_equal(out, "w|1|t|a\\rb", n);
}

static void parity_hash_separates_and_is_stable(void **state)
{
    (void)state;
    char buf[300];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (char)('a' + i % 26);
    /* Every length from 0 to 300, and a one-byte change at every position of
     * a 100-byte input, give different hashes. */
    uint64_t seen[301];
    for (size_t n = 0; n <= 300; n++) {
        seen[n] = lb_parity_hash(buf, n);
        assert_int_equal(seen[n], lb_parity_hash(buf, n));
        for (size_t k = 0; k < n; k++)
            assert_true(seen[k] != seen[n]);
    }
    uint64_t h = lb_parity_hash(buf, 100);
    for (size_t i = 0; i < 100; i++) {
        buf[i] ^= 1;
        assert_true(lb_parity_hash(buf, 100) != h);
        buf[i] ^= 1;
    }
}

/* ---- the aligner ---------------------------------------------------------------------- */

struct val {
    long v;
    int variant; /* content variant: a changed line has another */
};

struct harness {
    struct lb_align_item *f;
    size_t nf, fi;
    uint64_t counts[7];
    int ordered;
    uint64_t bad_emits;
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

static struct lb_align_item item_of(struct val x, int ordered)
{
    struct lb_align_item it;
    memset(&it, 0, sizeof(it));
    it.hash = mix((uint64_t)x.v * 16 + (uint64_t)x.variant + 1);
    it.off = (uint64_t)x.v * 100;
    it.ord = ordered ? (int64_t)it.off : x.v;
    it.key = ordered ? it.off : it.hash;
    it.line = (uint64_t)x.v + 1;
    return it;
}

static int h_pull(void *ctx, struct lb_align_item *out)
{
    struct harness *h = ctx;
    if (h->fi >= h->nf)
        return 0;
    *out = h->f[h->fi++];
    return 1;
}

static void h_emit(void *ctx, enum lb_align_kind kind, const struct lb_align_item *f,
                   const struct lb_align_item *s)
{
    struct harness *h = ctx;
    h->counts[kind]++;
    /* Which sides an outcome carries is part of the contract. */
    int want_f = kind != LB_ALIGN_EXTRA, want_s = kind <= LB_ALIGN_OOO || kind == LB_ALIGN_EXTRA;
    if ((f != NULL) != want_f || (s != NULL) != want_s)
        h->bad_emits++;
}

/* Align lines fv against entries sv, pushing entries `batch` at a time. */
static void run_align(const struct val *fv, size_t nf, const struct val *sv, size_t ns,
                      size_t window, int ordered, size_t batch, uint64_t out[7])
{
    struct harness h;
    memset(&h, 0, sizeof(h));
    h.f = calloc(nf + 1, sizeof(*h.f));
    for (size_t i = 0; i < nf; i++)
        h.f[i] = item_of(fv[i], ordered);
    h.nf = nf;
    struct lb_align *a = lb_align_create(window, ordered, h_pull, h_emit, &h);
    assert_non_null(a);
    for (size_t i = 0; i < ns; i++) {
        struct lb_align_item it = item_of(sv[i], ordered);
        assert_int_equal(lb_align_push(a, &it), 0);
        if ((i + 1) % batch == 0) {
            assert_int_equal(lb_align_run(a, 0), 0);
            /* Memory stays bounded: the aligner never holds much more than a
             * window of undecided entries. */
            assert_true(lb_align_pending(a) <= 2 * window + batch + 64);
        }
    }
    assert_int_equal(lb_align_run(a, 1), 0);
    assert_int_equal(lb_align_pending(a), 0);
    assert_int_equal(h.bad_emits, 0);
    /* Every line and every entry was decided exactly once. */
    uint64_t *c = h.counts;
    assert_int_equal(c[LB_ALIGN_MATCH] + c[LB_ALIGN_MISMATCH] + c[LB_ALIGN_OOO] +
                         c[LB_ALIGN_MISSING] + c[LB_ALIGN_HEAD] + c[LB_ALIGN_TAIL],
                     nf);
    assert_int_equal(c[LB_ALIGN_MATCH] + c[LB_ALIGN_MISMATCH] + c[LB_ALIGN_OOO] + c[LB_ALIGN_EXTRA],
                     ns);
    memcpy(out, h.counts, sizeof(h.counts));
    lb_align_destroy(a);
    free(h.f);
}

static struct val *seq_new(size_t n)
{
    struct val *v = calloc(n + 16, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i].v = (long)i;
    return v;
}

static void expect(const uint64_t c[7], uint64_t match, uint64_t mismatch, uint64_t ooo,
                   uint64_t missing, uint64_t extra, uint64_t head, uint64_t tail)
{
    assert_int_equal(c[LB_ALIGN_MATCH], match);
    assert_int_equal(c[LB_ALIGN_MISMATCH], mismatch);
    assert_int_equal(c[LB_ALIGN_OOO], ooo);
    assert_int_equal(c[LB_ALIGN_MISSING], missing);
    assert_int_equal(c[LB_ALIGN_EXTRA], extra);
    assert_int_equal(c[LB_ALIGN_HEAD], head);
    assert_int_equal(c[LB_ALIGN_TAIL], tail);
}

static void align_equal_sequences_all_match(void **state)
{
    (void)state;
    struct val *f = seq_new(5000);
    uint64_t c[7];
    for (int ordered = 0; ordered < 2; ordered++) {
        run_align(f, 5000, f, 5000, 64, ordered, 1000, c);
        expect(c, 5000, 0, 0, 0, 0, 0, 0);
        run_align(f, 5000, f, 5000, 64, ordered, 1, c);
        expect(c, 5000, 0, 0, 0, 0, 0, 0);
    }
    free(f);
}

static void align_one_missing_is_one_missing(void **state)
{
    (void)state;
    struct val *f = seq_new(1000), *s = seq_new(1000);
    memmove(&s[500], &s[501], 499 * sizeof(*s));
    uint64_t c[7];
    for (int ordered = 0; ordered < 2; ordered++) {
        run_align(f, 1000, s, 999, 64, ordered, 100, c);
        expect(c, 999, 0, 0, 1, 0, 0, 0);
    }
    free(f);
    free(s);
}

static void align_one_extra_is_one_extra(void **state)
{
    (void)state;
    struct val *f = seq_new(1000), *s = seq_new(1001);
    memmove(&s[401], &s[400], 600 * sizeof(*s));
    s[400] = (struct val){5000, 0}; /* a line no file has */
    uint64_t c[7];
    run_align(f, 1000, s, 1001, 64, 0, 100, c);
    expect(c, 1000, 0, 0, 0, 1, 0, 0);
    s[400] = (struct val){399, 0}; /* a duplicate of the line before */
    for (int ordered = 0; ordered < 2; ordered++) {
        run_align(f, 1000, s, 1001, 64, ordered, 100, c);
        expect(c, 1000, 0, 0, 0, 1, 0, 0);
    }
    free(f);
    free(s);
}

static void align_changed_line_is_one_mismatched(void **state)
{
    (void)state;
    struct val *f = seq_new(1000), *s = seq_new(1000);
    s[300].variant = 1;
    s[301].variant = 1; /* two neighbours changed: two mismatched, no cascade */
    s[700].variant = 2;
    uint64_t c[7];
    for (int ordered = 0; ordered < 2; ordered++) {
        run_align(f, 1000, s, 1000, 64, ordered, 100, c);
        expect(c, 997, 3, 0, 0, 0, 0, 0);
    }
    free(f);
    free(s);
}

static void align_swaps_and_moves_are_out_of_order(void **state)
{
    (void)state;
    uint64_t c[7];
    for (int ordered = 0; ordered < 2; ordered++) {
        struct val *f = seq_new(1000), *s = seq_new(1000);
        struct val t = s[100]; /* adjacent swap */
        s[100] = s[101];
        s[101] = t;
        run_align(f, 1000, s, 1000, 64, ordered, 100, c);
        expect(c, 999, 0, 1, 0, 0, 0, 0);

        free(s);
        s = seq_new(1000); /* one entry moved 20 places earlier */
        t = s[520];
        memmove(&s[501], &s[500], 20 * sizeof(*s));
        s[500] = t;
        run_align(f, 1000, s, 1000, 64, ordered, 100, c);
        expect(c, 999, 0, 1, 0, 0, 0, 0);

        free(s);
        s = seq_new(1000); /* one entry moved 20 places later */
        t = s[500];
        memmove(&s[500], &s[501], 20 * sizeof(*s));
        s[520] = t;
        run_align(f, 1000, s, 1000, 64, ordered, 100, c);
        expect(c, 999, 0, 1, 0, 0, 0, 0);
        free(f);
        free(s);
    }
}

static void align_gap_longer_than_window_resyncs(void **state)
{
    (void)state;
    uint64_t c[7];
    for (int ordered = 0; ordered < 2; ordered++) {
        /* 3000 entries missing in the middle, window 64. */
        struct val *f = seq_new(10000), *s = seq_new(10000);
        memmove(&s[4000], &s[7000], 3000 * sizeof(*s));
        run_align(f, 10000, s, 7000, 64, ordered, 1000, c);
        expect(c, 7000, 0, 0, 3000, 0, 0, 0);
        /* 3000 extra entries in the middle: old lines written again with other
         * content (their times are behind the current line). */
        free(s);
        s = seq_new(13000);
        for (size_t i = 0; i < 13000; i++) {
            s[i].v = i < 4000 ? (long)i : i < 7000 ? (long)i - 4000 : (long)i - 3000;
            s[i].variant = i >= 4000 && i < 7000 ? 3 : 0;
        }
        run_align(f, 10000, s, 13000, 64, ordered, 1000, c);
        assert_int_equal(c[LB_ALIGN_MATCH], 10000);
        assert_int_equal(c[LB_ALIGN_EXTRA], 3000);
        assert_int_equal(c[LB_ALIGN_MISSING] + c[LB_ALIGN_MISMATCH] + c[LB_ALIGN_OOO], 0);
        free(f);
        free(s);
    }
}

static void align_trimmed_head_is_head_and_tail_is_tail(void **state)
{
    (void)state;
    uint64_t c[7];
    for (int ordered = 0; ordered < 2; ordered++) {
        struct val *f = seq_new(5000), *s = seq_new(5000);
        /* The stream kept lines 4000.. (a MAXLEN trim): any gap length. */
        run_align(f, 5000, s + 4000, 1000, 64, ordered, 100, c);
        expect(c, 1000, 0, 0, 0, 0, 4000, 0);
        /* The stream stops at line 2999 (a --to window, or a lagging tail). */
        run_align(f, 5000, s, 3000, 64, ordered, 100, c);
        expect(c, 3000, 0, 0, 0, 0, 0, 2000);
        /* Both, with a missing line and a swap inside. */
        struct val *w = seq_new(2000);
        for (size_t i = 0; i < 2000; i++)
            w[i].v = 1000 + (long)i;
        memmove(&w[500], &w[501], 1499 * sizeof(*w)); /* line 1500 missing */
        struct val t = w[900];
        w[900] = w[901];
        w[901] = t;
        run_align(f, 5000, w, 1999, 64, ordered, 100, c);
        expect(c, 1998, 0, 1, 1, 0, 1000, 2000);
        free(w);
        free(f);
        free(s);
    }
}

static void align_one_side_empty(void **state)
{
    (void)state;
    uint64_t c[7];
    struct val *f = seq_new(300);
    run_align(f, 300, f, 0, 64, 0, 10, c);
    expect(c, 0, 0, 0, 0, 0, 300, 0);
    run_align(f, 0, f, 300, 64, 1, 10, c);
    expect(c, 0, 0, 0, 0, 300, 0, 0);
    free(f);
}

static void align_duplicate_lines(void **state)
{
    (void)state;
    uint64_t c[7];
    /* Content mode: five identical lines in a row, the stream has four. */
    struct val *f = seq_new(100), *s = seq_new(100);
    for (int i = 50; i < 55; i++)
        f[i].v = s[i].v = 50;
    memmove(&s[52], &s[53], 47 * sizeof(*s));
    run_align(f, 100, s, 99, 16, 0, 10, c);
    expect(c, 99, 0, 0, 1, 0, 0, 0);
    free(f);
    free(s);
}

/* Many independent edits at random places, each of a known cost. */
static void align_random_edits_exact_counts(void **state)
{
    (void)state;
    srand(12345);
    for (int round = 0; round < 40; round++) {
        int ordered = round % 2;
        size_t n = 20000;
        struct val *f = seq_new(n);
        struct val *s = calloc(2 * n, sizeof(*s));
        size_t ns = 0;
        uint64_t want_missing = 0, want_extra = 0, want_mismatch = 0, want_ooo = 0;
        for (size_t i = 0; i < n;) {
            int r = rand() % 400;
            /* Keep edits apart (and out of the first lines, where the
             * synchronisation of a trimmed head would take them). */
            if (i < 100 || i + 3 >= n || r >= 4) {
                s[ns++] = f[i++];
                continue;
            }
            if (r == 0) { /* deleted */
                want_missing++;
                i++;
            } else if (r == 1) { /* an extra entry */
                s[ns++] = (struct val){(long)(1000000 + i), 0};
                s[ns++] = f[i++];
                want_extra++;
            } else if (r == 2) { /* changed */
                s[ns] = f[i++];
                s[ns++].variant = 1;
                want_mismatch++;
            } else { /* swapped with the next */
                s[ns++] = f[i + 1];
                s[ns++] = f[i];
                i += 2;
                want_ooo++;
            }
            for (int k = 0; k < 5 && i < n; k++)
                s[ns++] = f[i++];
        }
        uint64_t c[7];
        run_align(f, n, s, ns, 256, ordered, 1000, c);
        assert_int_equal(c[LB_ALIGN_MISSING], want_missing);
        assert_int_equal(c[LB_ALIGN_EXTRA], want_extra);
        assert_int_equal(c[LB_ALIGN_MISMATCH], want_mismatch);
        assert_int_equal(c[LB_ALIGN_OOO], want_ooo);
        assert_int_equal(c[LB_ALIGN_HEAD] + c[LB_ALIGN_TAIL], 0);
        free(f);
        free(s);
    }
}

/* ---- the multiset ------------------------------------------------------------------------ */

static void mset_counts_duplicates(void **state)
{
    (void)state;
    struct lb_mset *m = lb_mset_create();
    assert_non_null(m);
    for (uint64_t i = 0; i < 100000; i++)
        assert_int_equal(lb_mset_add(m, mix(i % 50000 + 1)), 0);
    assert_int_equal(lb_mset_add(m, 0), 0); /* hash 0 is a value too */
    assert_int_equal(lb_mset_total(m), 100001);
    assert_true(lb_mset_take(m, 0));
    assert_false(lb_mset_take(m, 0));
    for (uint64_t i = 0; i < 50000; i++) {
        assert_true(lb_mset_take(m, mix(i + 1)));
        assert_true(lb_mset_take(m, mix(i + 1)));
        assert_false(lb_mset_take(m, mix(i + 1)));
    }
    assert_false(lb_mset_take(m, mix(999999)));
    assert_int_equal(lb_mset_total(m), 0);
    /* 12 bytes a slot, at most 1/0.7 slots per distinct value, power of 2. */
    assert_true(lb_mset_bytes(m) <= 131072 * 12);
    lb_mset_destroy(m);
    lb_mset_destroy(NULL);
}

/* ---- the report writers ------------------------------------------------------------------ */

static char *report_to_string(int (*w)(FILE *, const struct lb_parity_report *),
                              const struct lb_parity_report *r, size_t *n)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, n);
    assert_non_null(f);
    assert_int_equal(w(f, r), 0);
    fclose(f);
    return buf;
}

static void report_fixture(struct lb_parity_report *r, struct lb_parity_file *files,
                           struct lb_parity_example *ex)
{
    static char hostile[] = "a<b>&\"c'\x01\x1b[31m\xff\xfe tab\t cr\r \xef\xbf\xbe end";
    static char plain[] = "web|2025-06-18T10:00:00Z|login|ok";
    memset(r, 0, sizeof(*r));
    memset(files, 0, 2 * sizeof(*files));
    memset(ex, 0, 3 * sizeof(*ex));
    files[0].path = "dir/a<&>.log";
    files[0].c.file_lines = 10;
    files[0].c.matched = 8;
    files[0].c.missing = 1;
    files[0].c.mismatched = 1;
    files[1].path = "b.log";
    files[1].c.file_lines = 5;
    files[1].c.matched = 5;
    r->stream = "app\"<events>&";
    r->files = files;
    r->nfiles = 2;
    r->c.file_lines = 15;
    r->c.stream_entries = 15;
    r->c.matched = 13;
    r->c.missing = 1;
    r->c.mismatched = 1;
    r->c.extra = 1;
    static char stream_a[] = "{ev}:a<&>";
    ex[0] = (struct lb_parity_example){LB_PK_MISSING, 0,    3, 120, 0, 0, 0, plain,
                                       strlen(plain), NULL, 0, -1, NULL};
    ex[1] = (struct lb_parity_example){LB_PK_MISMATCHED, 0, 7, 400, 1, 17, 2, plain,
                                       strlen(plain), hostile, sizeof(hostile) - 1, 0, stream_a};
    ex[2] = (struct lb_parity_example){LB_PK_EXTRA,        -1, 0, 0, 1, 18, 0, NULL, 0, hostile,
                                       sizeof(hostile) - 1, 0, stream_a};
    r->examples = ex;
    r->nexamples = 3;
}

static void report_json_has_exactly_the_keys(void **state)
{
    (void)state;
    struct lb_parity_report r;
    struct lb_parity_file files[2];
    struct lb_parity_example ex[3];
    report_fixture(&r, files, ex);
    size_t n;
    char *s = report_to_string(lb_parity_write_json, &r, &n);
    cJSON *root = cJSON_ParseWithLength(s, n);
    assert_non_null(root);
    static const char *const keys[] = {"equal",      "file_lines",        "stream_entries",
                                       "matched",    "missing_in_stream", "extra_in_stream",
                                       "mismatched", "out_of_order",      "trimmed",
                                       "bad_lines",  "pending",           "accepted",
                                       "baseline_unused", "examples"};
    assert_int_equal(cJSON_GetArraySize(root), 14);
    for (size_t i = 0; i < 14; i++)
        assert_non_null(cJSON_GetObjectItemCaseSensitive(root, keys[i]));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(root, "equal")));
    cJSON *exs = cJSON_GetObjectItemCaseSensitive(root, "examples");
    assert_int_equal(cJSON_GetArraySize(exs), 3);
    cJSON *e1 = cJSON_GetArrayItem(exs, 1);
    assert_int_equal(cJSON_GetArraySize(e1), 7);
    assert_string_equal(cJSON_GetObjectItem(e1, "kind")->valuestring, "mismatched");
    assert_string_equal(cJSON_GetObjectItem(e1, "stream")->valuestring, "{ev}:a<&>");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(exs, 0), "stream")));
    assert_string_equal(cJSON_GetObjectItem(e1, "file")->valuestring, "dir/a<&>.log");
    assert_int_equal(cJSON_GetObjectItem(e1, "line")->valueint, 7);
    assert_string_equal(cJSON_GetObjectItem(e1, "id")->valuestring, "17-2");
    /* Invalid UTF-8 became U+FFFD; control bytes are escaped, the rest kept. */
    const char *act = cJSON_GetObjectItem(e1, "actual")->valuestring;
    assert_non_null(strstr(act, "a<b>&\"c'\x01\x1b[31m\xef\xbf\xbd\xef\xbf\xbd tab\t cr\r"));
    cJSON *e2 = cJSON_GetArrayItem(exs, 2);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(e2, "file")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(e2, "line")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(e2, "expected")));
    cJSON_Delete(root);
    free(s);
}

static void report_junit_is_well_formed_xml(void **state)
{
    (void)state;
    struct lb_parity_report r;
    struct lb_parity_file files[2];
    struct lb_parity_example ex[3];
    report_fixture(&r, files, ex);
    size_t n;
    char *s = report_to_string(lb_parity_write_junit, &r, &n);
    char why[256];
    struct pxml_node *root = pxml_parse(s, n, why, sizeof(why));
    if (root == NULL)
        fail_msg("junit not well-formed: %s\n%s", why, s);
    assert_string_equal(root->name, "testsuite");
    assert_string_equal(pxml_attr(root, "tests"), "3");
    assert_string_equal(pxml_attr(root, "failures"), "2");
    assert_int_equal(pxml_count(root, "testcase"), 3);
    const struct pxml_node *t0 = pxml_child(root, "testcase", 0);
    assert_string_equal(pxml_attr(t0, "name"), "dir/a<&>.log");
    const struct pxml_node *f0 = pxml_child(t0, "failure", 0);
    assert_non_null(f0);
    assert_string_equal(pxml_attr(f0, "message"),
                        "missing_in_stream=1 mismatched=1 out_of_order=0");
    assert_null(pxml_child(pxml_child(root, "testcase", 1), "failure", 0));
    const struct pxml_node *t2 = pxml_child(root, "testcase", 2);
    assert_string_equal(pxml_attr(t2, "name"), "stream app\"<events>&");
    assert_string_equal(pxml_attr(pxml_child(t2, "failure", 0), "message"), "extra_in_stream=1");
    pxml_free(root);
    free(s);

    /* The checker itself rejects what it must. */
    static const char *const bad[] = {
        "<a>",          "<a></b>",     "<a x='1' x='2'/>", "<a>&foo;</a>", "<a>\x01</a>",
        "<a b=\"<\"/>", "<a>\xff</a>", "<a/><b/>",         "<a>&#1;</a>",  "<a>]]></a>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pxml_node *x = pxml_parse(bad[i], strlen(bad[i]), why, sizeof(why));
        if (x != NULL)
            fail_msg("accepted: %s", bad[i]);
    }
}

static void report_text_equal_has_no_examples(void **state)
{
    (void)state;
    struct lb_parity_report r;
    struct lb_parity_file files[2];
    memset(&r, 0, sizeof(r));
    memset(files, 0, sizeof(files));
    files[0].path = "a.log";
    r.stream = "s";
    r.files = files;
    r.nfiles = 1;
    r.c.file_lines = r.c.matched = r.c.stream_entries = 4;
    r.c.trimmed = 0;
    size_t n;
    char *s = report_to_string(lb_parity_write_text, &r, &n);
    assert_true(strncmp(s, "EQUAL", 5) == 0);
    assert_null(strstr(s, "examples"));
    free(s);
    struct lb_parity_example ex[3];
    struct lb_parity_file f2[2];
    report_fixture(&r, f2, ex);
    s = report_to_string(lb_parity_write_text, &r, &n);
    assert_true(strncmp(s, "DIFFERENT", 9) == 0);
    assert_non_null(strstr(s, "examples (3 of 3)"));
    assert_null(strchr(s, '\x1b')); /* no terminal escapes get through */
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parity_text_is_format_line_without_newline),
        cmocka_unit_test(parity_hash_separates_and_is_stable),
        cmocka_unit_test(align_equal_sequences_all_match),
        cmocka_unit_test(align_one_missing_is_one_missing),
        cmocka_unit_test(align_one_extra_is_one_extra),
        cmocka_unit_test(align_changed_line_is_one_mismatched),
        cmocka_unit_test(align_swaps_and_moves_are_out_of_order),
        cmocka_unit_test(align_gap_longer_than_window_resyncs),
        cmocka_unit_test(align_trimmed_head_is_head_and_tail_is_tail),
        cmocka_unit_test(align_one_side_empty),
        cmocka_unit_test(align_duplicate_lines),
        cmocka_unit_test(align_random_edits_exact_counts),
        cmocka_unit_test(mset_counts_duplicates),
        cmocka_unit_test(report_json_has_exactly_the_keys),
        cmocka_unit_test(report_junit_is_well_formed_xml),
        cmocka_unit_test(report_text_equal_has_no_examples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
