/*
 * test_checkpoint.c - bridge/checkpoint.c: the hash tag rules and derived
 * key names (DESIGN.md section 3), the checkpoint JSON both ways, the trust
 * check against a file (identity, fingerprint, offset), and lb_abs_path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "checkpoint.h"
#include "lbtest.h"
#include "source.h"

/* ---- hash tags and key names -------------------------------------------------- */

static void tag_is(const char *stream, const char *want)
{
    char out[LB_KEY_MAX];
    lb_key_tag(stream, out, sizeof(out));
    if (strcmp(out, want) != 0)
        fail_msg("tag of '%s' is '%s', want '%s'", stream, out, want);
}

static void derive_is(const char *stream, const char *kind, const char *want)
{
    char out[LB_KEY_MAX];
    lb_key_derive(stream, kind, out, sizeof(out));
    if (strcmp(out, want) != 0)
        fail_msg("%s key of '%s' is '%s', want '%s'", kind, stream, out, want);
}

/* Redis Cluster's rule: the bytes between the first '{' and the first '}'
 * after it, when there are any; else the whole name. */
static void key_tag_follows_the_cluster_rule(void **state)
{
    (void)state;
    tag_is("{app}:x", "app");
    tag_is("{app}:messages", "app");
    tag_is("messages", "messages");
    tag_is("a{}b", "a{}b");
    tag_is("{a}{b}", "a");
    tag_is("x{a}y{b}", "a");
    tag_is("{}{b}", "{}{b}"); /* the first pair is empty: no tag at all */
    tag_is("a{b", "a{b");
    tag_is("a}b{c}", "c");
    tag_is("{{a}}", "{a");
    tag_is("{a}}", "a");
    tag_is("events:{user:1}:log", "user:1");
}

static void key_derive_carries_the_tag(void **state)
{
    (void)state;
    derive_is("{app}:messages", "ckpt", "logbridge:ckpt:{app}");
    derive_is("{app}:messages", "dlq", "logbridge:dlq:{app}");
    derive_is("{app}:messages", "mirror", "logbridge:mirror:{app}");
    derive_is("messages", "ckpt", "logbridge:ckpt:{messages}");
    derive_is("a{}b", "dlq", "logbridge:dlq:{a{}b}");
    derive_is("{a}{b}", "ckpt", "logbridge:ckpt:{a}");
}

/* Templates: the template's own hash tag; without one, the template text.
 * %{type} and %{role} are placeholders, not hash tags (DESIGN.md section 3:
 * "for a template, the template's hash tag, else the template text
 * (`events:%{type}`)"). */
static void key_derive_of_templates(void **state)
{
    (void)state;
    derive_is("{ev}:%{role}", "ckpt", "logbridge:ckpt:{ev}");
    derive_is("{ev}:%{type}", "dlq", "logbridge:dlq:{ev}");
    derive_is("events:%{type}", "ckpt", "logbridge:ckpt:{events:%{type}}");
    derive_is("events:%{type}", "dlq", "logbridge:dlq:{events:%{type}}");
    derive_is("%{role}:%{type}", "ckpt", "logbridge:ckpt:{%{role}:%{type}}");
    derive_is("%{type}:{app}", "ckpt", "logbridge:ckpt:{app}");
}

/* ---- checkpoint JSON ---------------------------------------------------------- */

static void ckpt_format_then_parse_round_trips(void **state)
{
    (void)state;
    struct lb_ckpt ck = {1, 65024, 10954090ULL, "74f0d6a327b36bfa", 230, 7, "1795502622235-4", 0, {{0}}};
    char buf[512];
    size_t n = lb_ckpt_format(&ck, buf, sizeof(buf));
    assert_int_equal(n, strlen(buf));
    assert_string_equal(buf, "{\"dev\":65024,\"ino\":10954090,\"fp\":\"74f0d6a327b36bfa\","
                             "\"off\":230,\"line\":7,\"id\":\"1795502622235-4\"}");
    struct lb_ckpt back;
    assert_int_equal(lb_ckpt_parse(buf, n, &back, NULL), 0);
    assert_int_equal(back.present, 1);
    assert_true(back.dev == ck.dev && back.ino == ck.ino);
    assert_string_equal(back.fp, ck.fp);
    assert_int_equal(back.off, 230);
    assert_int_equal(back.line, 7);
    assert_string_equal(back.id, ck.id);

    /* large values (a 4 TiB file, an inode above 2^32) survive */
    struct lb_ckpt big = {
        1, 2049, 5000000000ULL, "0000000000000000", 4398046511104ULL, 90000000000ULL, "", 0, {{0}}};
    n = lb_ckpt_format(&big, buf, sizeof(buf));
    assert_int_equal(lb_ckpt_parse(buf, n, &back, NULL), 0);
    assert_true(back.ino == 5000000000ULL);
    assert_int_equal(back.off, 4398046511104ULL);
    assert_int_equal(back.line, 90000000000ULL);
    assert_string_equal(back.id, "");
}

static void ckpt_parse_takes_any_key_order_and_no_id(void **state)
{
    (void)state;
    const char *j = "{ \"line\": 3, \"off\": 99, \"fp\": \"abcdef0123456789\", \"ino\": 5, "
                    "\"dev\": 1, \"extra\": true }";
    struct lb_ckpt ck;
    assert_int_equal(lb_ckpt_parse(j, strlen(j), &ck, NULL), 0);
    assert_int_equal(ck.present, 1);
    assert_int_equal(ck.off, 99);
    assert_int_equal(ck.line, 3);
    assert_string_equal(ck.id, "");
    /* the length is what counts, not a NUL */
    const char *k = "{\"dev\":1,\"ino\":2,\"fp\":\"x\",\"off\":4,\"line\":5}GARBAGE";
    assert_int_equal(lb_ckpt_parse(k, strlen(k) - 7, &ck, NULL), 0);
    assert_int_equal(ck.line, 5);
}

/* Values past 2^64-1 are refused, not wrapped (20 digits fit in the old
 * reader's loop and wrapped silently); 2^64-1 itself is kept exactly. */
static void ckpt_parse_refuses_values_past_2_64(void **state)
{
    (void)state;
    struct lb_ckpt ck;
    const char *max = "{\"dev\":18446744073709551615,\"ino\":9007199254740993,\"fp\":\"x\","
                      "\"off\":4,\"line\":5}";
    assert_int_equal(lb_ckpt_parse(max, strlen(max), &ck, NULL), 0);
    assert_true(ck.dev == 18446744073709551615ULL);
    assert_true(ck.ino == 9007199254740993ULL); /* 2^53 + 1: a double would round it */
    const char *bad[] = {
        "{\"dev\":18446744073709551616,\"ino\":2,\"fp\":\"x\",\"off\":4,\"line\":5}",
        "{\"dev\":1,\"ino\":99999999999999999999,\"fp\":\"x\",\"off\":4,\"line\":5}",
        "{\"dev\":1,\"ino\":2,\"fp\":\"x\",\"off\":123456789012345678901,\"line\":5}",
        "{\"dev\":1,\"ino\":2,\"fp\":\"x\",\"off\":4.5,\"line\":5}",
        "{\"dev\":1,\"ino\":2,\"fp\":\"x\",\"off\":4,\"line\":5e3}",
        "{\"dev\":1,\"ino\":2,\"fp\":\"x\",\"off\":4,\"line\":5,"
        "\"done\":[{\"dev\":1,\"ino\":18446744073709551616,\"fp\":\"y\",\"off\":1,\"line\":1}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lb_error err = {0};
        if (lb_ckpt_parse(bad[i], strlen(bad[i]), &ck, &err) != LB_ECKPT || ck.present)
            fail_msg("'%s' was accepted", bad[i]);
    }
}

/* "done": the finished generations, most recent first; exact numbers in
 * each; old values without it still parse; at most LB_CKPT_DONE_MAX kept. */
static void ckpt_parse_reads_the_done_generations(void **state)
{
    (void)state;
    const char *j = "{\"dev\":1,\"ino\":2,\"fp\":\"aaaaaaaaaaaaaaaa\",\"off\":40,\"line\":4,"
                    "\"id\":\"5-0\",\"done\":[{\"dev\":1,\"ino\":18446744073709551615,"
                    "\"fp\":\"bbbbbbbbbbbbbbbb\",\"off\":300,\"line\":30},"
                    "{\"line\":20,\"off\":200,\"fp\":\"cccccccccccccccc\",\"ino\":3,\"dev\":7}]}";
    struct lb_ckpt ck;
    assert_int_equal(lb_ckpt_parse(j, strlen(j), &ck, NULL), 0);
    assert_int_equal(ck.off, 40);
    assert_int_equal(ck.line, 4);
    assert_int_equal(ck.ino, 2);
    assert_string_equal(ck.id, "5-0");
    assert_int_equal(ck.ndone, 2);
    assert_true(ck.done[0].ino == 18446744073709551615ULL);
    assert_string_equal(ck.done[0].fp, "bbbbbbbbbbbbbbbb");
    assert_int_equal(ck.done[0].off, 300);
    assert_int_equal(ck.done[0].line, 30);
    assert_int_equal(ck.done[1].dev, 7);
    assert_int_equal(ck.done[1].ino, 3);
    assert_int_equal(ck.done[1].off, 200);
    assert_int_equal(ck.done[1].line, 20);

    /* format writes them back the same */
    char buf[2048];
    size_t n = lb_ckpt_format(&ck, buf, sizeof(buf));
    struct lb_ckpt back;
    assert_int_equal(lb_ckpt_parse(buf, n, &back, NULL), 0);
    assert_int_equal(back.ndone, 2);
    assert_memory_equal(&back.done, &ck.done, sizeof(ck.done));

    /* a value without "done" (written before it existed), and an empty list */
    const char *old = "{\"dev\":1,\"ino\":2,\"fp\":\"x\",\"off\":4,\"line\":5,\"id\":\"\"}";
    assert_int_equal(lb_ckpt_parse(old, strlen(old), &ck, NULL), 0);
    assert_int_equal(ck.ndone, 0);
    n = lb_ckpt_format(&ck, buf, sizeof(buf));
    assert_string_equal(buf, old);
    const char *empty = "{\"dev\":1,\"ino\":2,\"fp\":\"x\",\"off\":4,\"line\":5,\"done\":[]}";
    assert_int_equal(lb_ckpt_parse(empty, strlen(empty), &ck, NULL), 0);
    assert_int_equal(ck.ndone, 0);

    /* numbers of other keys, nested deeper, are not taken for ours */
    const char *nested = "{\"x\":{\"off\":99},\"dev\":1,\"ino\":2,\"fp\":\"x\",\"off\":4,"
                         "\"line\":5,\"done\":[{\"dev\":1,\"ino\":2,\"fp\":\"y\",\"off\":1,"
                         "\"line\":1,\"more\":{\"off\":77}}]}";
    assert_int_equal(lb_ckpt_parse(nested, strlen(nested), &ck, NULL), 0);
    assert_int_equal(ck.off, 4);
    assert_int_equal(ck.done[0].off, 1);

    /* more than the maximum: the most recent are kept */
    char many[4096];
    size_t o = (size_t)snprintf(many, sizeof(many),
                                "{\"dev\":1,\"ino\":2,\"fp\":\"x\",\"off\":4,\"line\":5,\"done\":[");
    for (int i = 0; i < LB_CKPT_DONE_MAX + 3; i++)
        o += (size_t)snprintf(many + o, sizeof(many) - o,
                              "%s{\"dev\":1,\"ino\":%d,\"fp\":\"f\",\"off\":%d,\"line\":1}",
                              i ? "," : "", 100 + i, 1000 + i);
    snprintf(many + o, sizeof(many) - o, "]}");
    assert_int_equal(lb_ckpt_parse(many, strlen(many), &ck, NULL), 0);
    assert_int_equal(ck.ndone, LB_CKPT_DONE_MAX);
    assert_int_equal(ck.done[LB_CKPT_DONE_MAX - 1].ino, 100 + LB_CKPT_DONE_MAX - 1);

    /* a done entry that lacks a field, or is not an object: not trusted */
    const char *bad[] = {
        "{\"dev\":1,\"ino\":2,\"fp\":\"x\",\"off\":4,\"line\":5,\"done\":{}}",
        "{\"dev\":1,\"ino\":2,\"fp\":\"x\",\"off\":4,\"line\":5,\"done\":[5]}",
        "{\"dev\":1,\"ino\":2,\"fp\":\"x\",\"off\":4,\"line\":5,"
        "\"done\":[{\"dev\":1,\"ino\":2,\"off\":1,\"line\":1}]}",
        "{\"dev\":1,\"ino\":2,\"fp\":\"x\",\"off\":4,\"line\":5,"
        "\"done\":[{\"dev\":1,\"ino\":2,\"fp\":\"y\",\"off\":-1,\"line\":1}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (lb_ckpt_parse(bad[i], strlen(bad[i]), &ck, NULL) != LB_ECKPT || ck.present)
            fail_msg("'%s' was accepted", bad[i]);
    }
}

static void ckpt_parse_rejects_what_it_cannot_trust(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "null",
        "[1,2]",
        "{",
        "{\"ino\":2,\"fp\":\"x\",\"off\":4,\"line\":5}",               /* no dev */
        "{\"dev\":1,\"ino\":2,\"off\":4,\"line\":5}",                  /* no fp */
        "{\"dev\":1,\"ino\":2,\"fp\":\"x\",\"line\":5}",               /* no off */
        "{\"dev\":1,\"ino\":2,\"fp\":\"x\",\"off\":4}",                /* no line */
        "{\"dev\":1,\"ino\":2,\"fp\":\"x\",\"off\":-4,\"line\":5}",    /* negative */
        "{\"dev\":1,\"ino\":2,\"fp\":\"x\",\"off\":\"4\",\"line\":5}", /* a string */
        "{\"dev\":1,\"ino\":2,\"fp\":7,\"off\":4,\"line\":5}",         /* fp not a string */
        "{\"dev\":1,\"ino\":2,\"fp\":\"x\",\"off\":4,\"line\":5,\"id\":5}",
        "{\"dev\":1,\"ino\":2,\"fp\":\"0123456789abcdef0\",\"off\":4,\"line\":5}", /* fp too long */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lb_ckpt ck;
        struct lb_error err = {0};
        int rc = lb_ckpt_parse(bad[i], strlen(bad[i]), &ck, &err);
        if (rc != LB_ECKPT || ck.present)
            fail_msg("'%s' was accepted (rc %d)", bad[i], rc);
        assert_int_equal(err.code, LB_ECKPT);
        assert_true(err.msg[0] != '\0');
    }
}

/* ---- trust ---------------------------------------------------------------------- */

struct fx {
    char dir[256];
    char path[512];
};

static int fx_setup(void **state)
{
    struct fx *t = calloc(1, sizeof(*t));
    if (t == NULL || lbt_mkdtemp(t->dir, sizeof(t->dir)) != 0)
        return -1;
    snprintf(t->path, sizeof(t->path), "%s/app.log", t->dir);
    *state = t;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *t = *state;
    lbt_rmdir(t->dir);
    free(t);
    return 0;
}

/* The checkpoint a job would write after off bytes of path. */
static struct lb_ckpt ckpt_of(const char *path, uint64_t off)
{
    struct lb_ckpt ck = {0};
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    size_t n;
    char *b = lbt_read_file(path, &n);
    assert_non_null(b);
    ck.present = 1;
    ck.dev = (unsigned long long)st.st_dev;
    ck.ino = (unsigned long long)st.st_ino;
    lb_fp_hex(b, off < LB_FP_LEN ? (size_t)off : LB_FP_LEN, ck.fp);
    ck.off = off;
    free(b);
    return ck;
}

static int trusted(const char *path, const struct lb_ckpt *ck, char *why, size_t cap)
{
    struct lb_error err = {0};
    struct lb_source *s = lb_source_open(path, 1024 * 1024, &err);
    assert_non_null(s);
    why[0] = '\0';
    int ok = lb_ckpt_trust(ck, s, why, cap);
    lb_source_close(s);
    return ok;
}

static void write_lines(const char *path, char c, int n)
{
    char line[101];
    memset(line, c, 99);
    line[99] = '\n';
    assert_int_equal(lbt_write_file(path, "", 0), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(lbt_append_file(path, line, 100), 0);
}

static void ckpt_trust_accepts_the_same_file_grown(void **state)
{
    struct fx *t = *state;
    char why[256];
    write_lines(t->path, 'a', 30);
    struct lb_ckpt ck500 = ckpt_of(t->path, 500), ck3000 = ckpt_of(t->path, 3000);
    struct lb_ckpt ck0 = ckpt_of(t->path, 0);
    write_lines(t->path, 'a', 60); /* same inode, same head, longer */
    assert_true(trusted(t->path, &ck500, why, sizeof(why)));
    assert_true(trusted(t->path, &ck3000, why, sizeof(why)));
    assert_true(trusted(t->path, &ck0, why, sizeof(why)));
}

static void ckpt_trust_refuses_another_inode(void **state)
{
    struct fx *t = *state;
    char why[256], other[600];
    write_lines(t->path, 'a', 30);
    struct lb_ckpt ck = ckpt_of(t->path, 1500);
    /* the same bytes in a new file renamed over the old one */
    snprintf(other, sizeof(other), "%s/new", t->dir);
    write_lines(other, 'a', 30);
    assert_int_equal(rename(other, t->path), 0);
    assert_false(trusted(t->path, &ck, why, sizeof(why)));
    assert_non_null(strstr(why, "ino"));
}

static void ckpt_trust_refuses_other_first_bytes(void **state)
{
    struct fx *t = *state;
    char why[256];
    write_lines(t->path, 'a', 30);
    struct lb_ckpt ck = ckpt_of(t->path, 1500);
    struct lb_ckpt small = ckpt_of(t->path, 150);
    write_lines(t->path, 'b', 40); /* rewritten in place: same inode */
    assert_false(trusted(t->path, &ck, why, sizeof(why)));
    assert_non_null(strstr(why, "fingerprint"));
    assert_false(trusted(t->path, &small, why, sizeof(why)));
}

static void ckpt_trust_refuses_an_offset_past_the_end(void **state)
{
    struct fx *t = *state;
    char why[256];
    write_lines(t->path, 'a', 30);
    struct lb_ckpt ck = ckpt_of(t->path, 2500);
    assert_int_equal(truncate(t->path, 2000), 0); /* truncated in place */
    assert_false(trusted(t->path, &ck, why, sizeof(why)));
    assert_non_null(strstr(why, "2500"));
}

static void ckpt_trust_of_gz_uses_decompressed_bytes(void **state)
{
    struct fx *t = *state;
    char why[256], gz[600];
    char data[4000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = i % 40 == 39 ? '\n' : (char)('a' + i % 23);
    snprintf(gz, sizeof(gz), "%s/app.log.1.gz", t->dir);
    gzFile z = gzopen(gz, "wb");
    assert_non_null(z);
    assert_int_equal(gzwrite(z, data, sizeof(data)), (int)sizeof(data));
    assert_int_equal(gzclose(z), Z_OK);
    struct stat st;
    assert_int_equal(stat(gz, &st), 0);
    struct lb_ckpt ck = {
        1, (unsigned long long)st.st_dev, (unsigned long long)st.st_ino, "", 2000, 50, "", 0, {{0}}};
    lb_fp_hex(data, LB_FP_LEN, ck.fp);
    assert_true(trusted(gz, &ck, why, sizeof(why)));
    ck.fp[0] = ck.fp[0] == '0' ? '1' : '0';
    assert_false(trusted(gz, &ck, why, sizeof(why)));
}

/* ---- absolute paths -------------------------------------------------------------- */

static void abs_is(const char *path, const char *want)
{
    char out[4096];
    assert_int_equal(lb_abs_path(path, out, sizeof(out)), 0);
    if (strcmp(out, want) != 0)
        fail_msg("lb_abs_path(%s) = %s, want %s", path, out, want);
}

static void abs_path_folds_dots_without_resolving_links(void **state)
{
    (void)state;
    char cwd[4096], want[8192];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    abs_is("/var/log/app.log", "/var/log/app.log");
    abs_is("/var//log/./app.log", "/var/log/app.log");
    abs_is("/var/log/../log/app.log", "/var/log/app.log");
    abs_is("/../x", "/x");
    abs_is("/", "/");
    snprintf(want, sizeof(want), "%s/app.log", strcmp(cwd, "/") == 0 ? "" : cwd);
    abs_is("app.log", want);
    abs_is("./app.log", want);
    abs_is("sub/../app.log", want);
    char out[8];
    assert_int_equal(lb_abs_path("/a/very/long/path", out, sizeof(out)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_tag_follows_the_cluster_rule),
        cmocka_unit_test(key_derive_carries_the_tag),
        cmocka_unit_test(key_derive_of_templates),
        cmocka_unit_test(ckpt_format_then_parse_round_trips),
        cmocka_unit_test(ckpt_parse_takes_any_key_order_and_no_id),
        cmocka_unit_test(ckpt_parse_rejects_what_it_cannot_trust),
        cmocka_unit_test(ckpt_parse_refuses_values_past_2_64),
        cmocka_unit_test(ckpt_parse_reads_the_done_generations),
        cmocka_unit_test_setup_teardown(ckpt_trust_accepts_the_same_file_grown, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(ckpt_trust_refuses_another_inode, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(ckpt_trust_refuses_other_first_bytes, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(ckpt_trust_refuses_an_offset_past_the_end, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(ckpt_trust_of_gz_uses_decompressed_bytes, fx_setup,
                                        fx_teardown),
        cmocka_unit_test(abs_path_folds_dots_without_resolving_links),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
