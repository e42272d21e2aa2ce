/*
 * test_import_identity.c - import knows a file by its identity, not by the
 * name it has now (issue 9 item 4, DESIGN.md 4.1 and 4.3): generations that
 * logrotate renamed after an import, a generation that tail already read
 * under the live path's src, copies and .gz of committed bytes, and the
 * finished generations a checkpoint lists in "done". Each is imported at most
 * once, the summary (and --dry-run) names the src that covered it, and the
 * checkpoint of a src that describes another file is never replaced.
 *
 * One redis-server serves the group; every test starts from FLUSHALL and
 * counts entries exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "checkpoint.h"
#include "fx_import.h"
#include "import_util.h"
#include "lbtest.h"
#include "source.h"

#define T0 INT64_C(1750240800000) /* 2025-06-18T10:00:00Z */
#define CKPT "logbridge:ckpt:{s}"
#define DLQ "logbridge:dlq:{s}"

static char out[1 << 18], err[1 << 18];

/* Run `logbridge <cmd> --redis URL --stream s <args...>` (import adds
 * --no-progress); stdout and stderr land in out/err. */
static int run_cmd(struct fx_import *t, const char *cmd, ...)
{
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, cmd, "--redis", t->r.url, "--stream", "s", "--log-level", "info", NULL);
    if (strcmp(cmd, "import") == 0)
        iu_args_add(&a, "--no-progress", NULL);
    va_list ap;
    va_start(ap, cmd);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL)
        iu_args_add(&a, s, NULL);
    va_end(ap);
    return lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
}

#define IMPORT(t, ...) run_cmd((t), "import", __VA_ARGS__, (const char *)NULL)
#define TAIL(t, ...) run_cmd((t), "tail", __VA_ARGS__, (const char *)NULL)

static void expect_rc(int rc, int want)
{
    if (rc != want)
        fail_msg("logbridge exited %d, want %d\nstdout: %.2000s\nstderr: %.4000s", rc, want, out,
                 err);
}

static void path_in(const struct fx_import *t, const char *name, char *p, size_t cap)
{
    snprintf(p, cap, "%s/%s", t->dir, name);
}

/* n valid lines (their fate is simple to count). */
static void gen_valid(struct iu_fix *f, long n, uint64_t seed)
{
    struct iu_rng rng = {seed};
    struct iu_gen g = {n, 0, 0, 0, 0, T0};
    iu_fix_gen(f, &g, &rng);
}

/* The whole checkpoint hash as sorted "field=value" lines (malloc'ed), to
 * show that a run left it untouched. */
static char *ckpt_dump(struct fx_import *t)
{
    redisReply *rep = redisCommand(t->c, "HGETALL %s", CKPT);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    size_t cap = 16, n = 0;
    for (size_t i = 0; i < rep->elements; i++)
        cap += rep->element[i]->len + 2;
    char **lines = calloc(rep->elements / 2 + 1, sizeof(char *));
    assert_non_null(lines);
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        size_t l = rep->element[i]->len + rep->element[i + 1]->len + 3;
        lines[n] = malloc(l);
        snprintf(lines[n], l, "%s=%s\n", rep->element[i]->str, rep->element[i + 1]->str);
        n++;
    }
    for (size_t i = 1; i < n; i++) /* insertion sort: a handful of fields */
        for (size_t j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
            char *x = lines[j];
            lines[j] = lines[j - 1];
            lines[j - 1] = x;
        }
    char *s = calloc(1, cap);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) {
        strcat(s, lines[i]);
        free(lines[i]);
    }
    free(lines);
    freeReplyObject(rep);
    return s;
}

static long long hlen(struct fx_import *t)
{
    redisReply *rep = redisCommand(t->c, "HLEN %s", CKPT);
    assert_non_null(rep);
    long long n = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    return n;
}

/* files[i].covered_by of the JSON summary is want (want NULL: absent). */
static void expect_covered_by(int i, const char *want)
{
    cJSON *sum = iu_summary(out);
    if (sum == NULL)
        fail_msg("no JSON summary on stdout: %s", out);
    const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItem(sum, "files"), i);
    const cJSON *cb = cJSON_GetObjectItem(f, "covered_by");
    if (want == NULL) {
        if (cb != NULL)
            fail_msg("files[%d] is covered by %s, want no cover\n%s", i, cb->valuestring, out);
    } else if (!cJSON_IsString(cb) || strcmp(cb->valuestring, want) != 0) {
        fail_msg("files[%d].covered_by is %s, want %s\nstdout: %s\nstderr: %.3000s", i,
                 cJSON_IsString(cb) ? cb->valuestring : "(none)", want, out, err);
    }
    cJSON_Delete(sum);
}

static void expect_skipped(int i, int want)
{
    cJSON *sum = iu_summary(out);
    assert_non_null(sum);
    int got = iu_jbool(sum, i, "skipped_already_imported");
    cJSON_Delete(sum);
    if (got != want)
        fail_msg("files[%d].skipped_already_imported = %d, want %d\n%s", i, got, want, out);
}

static void verify(struct fx_import *t, const struct iu_fix *f, const char *src, size_t from,
                   size_t upto, size_t stream_skip)
{
    char why[4096];
    struct iu_expect x = {"s", DLQ, src, 1, 0, NULL, 0, from, upto, stream_skip, 0};
    if (iu_verify(t->c, f, &x, why, sizeof(why)) != 0)
        fail_msg("%s\nstderr: %.2000s", why, err);
}

/* ---- logrotate renamed what was imported ---------------------------------------- */

/* import a.log.3.gz a.log.2.gz; logrotate renames them (.3 -> .4, .2 -> .3);
 * import a.log.4.gz a.log.3.gz again: nothing is written (was 400 entries,
 * with a warning), and the checkpoint of a.log.3.gz, which describes the
 * other file, is left as it is. */
static void import_identity_renamed_generations_write_nothing(void **state)
{
    struct fx_import *t = *state;
    char p2[512], p3[512], p4[512], s2[PATH_MAX], s3[PATH_MAX];
    path_in(t, "a.log.2.gz", p2, sizeof(p2));
    path_in(t, "a.log.3.gz", p3, sizeof(p3));
    path_in(t, "a.log.4.gz", p4, sizeof(p4));
    assert_int_equal(lb_abs_path(p2, s2, sizeof(s2)), 0);
    assert_int_equal(lb_abs_path(p3, s3, sizeof(s3)), 0);
    gen_valid(&t->f, 100, 1);
    gen_valid(&t->f2, 100, 2);
    assert_int_equal(iu_fix_write_gz(&t->f, p3), 0);
    assert_int_equal(iu_fix_write_gz(&t->f2, p2), 0);
    expect_rc(IMPORT(t, p3, p2), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 200);

    char *before = ckpt_dump(t);
    long long calls = iu_cmd_calls(t->c, "evalsha");
    assert_int_equal(rename(p3, p4), 0);
    assert_int_equal(rename(p2, p3), 0);
    expect_rc(IMPORT(t, "--summary", "json", p4, p3), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 200);
    assert_int_equal(lbt_xlen(t->c, DLQ), 0);
    assert_int_equal(iu_cmd_calls(t->c, "evalsha"), calls);
    char *after = ckpt_dump(t);
    assert_string_equal(after, before);
    free(before);
    free(after);
    if (strstr(err, "WARN") != NULL || strstr(err, "warn") != NULL)
        fail_msg("a warning for files already imported:\n%s", err);
    expect_covered_by(0, s3);
    expect_covered_by(1, s2);
    expect_skipped(0, 1);
    expect_skipped(1, 1);
    /* the text summary names the src too */
    expect_rc(IMPORT(t, p4, p3), 0);
    assert_non_null(strstr(out, s3));
    assert_int_equal(lbt_xlen(t->c, "s"), 200);
}

/* An import stopped part-way (--strict at a bad line); the file is renamed;
 * the import of the new name goes on under the first src from where it
 * stopped: every line exactly once, no checkpoint for the new name. */
static void import_identity_renamed_partial_import_resumes_under_its_src(void **state)
{
    struct fx_import *t = *state;
    char p1[512], p2[512], s1[PATH_MAX], s2[PATH_MAX];
    path_in(t, "b.log.1", p1, sizeof(p1));
    path_in(t, "b.log.2", p2, sizeof(p2));
    assert_int_equal(lb_abs_path(p1, s1, sizeof(s1)), 0);
    assert_int_equal(lb_abs_path(p2, s2, sizeof(s2)), 0);
    gen_valid(&t->f, 150, 3);
    iu_fix_bad(&t->f, "no separators at all", "fields");
    gen_valid(&t->f, 150, 4);
    assert_int_equal(iu_fix_write(&t->f, p1), 0);
    expect_rc(IMPORT(t, "--strict", p1), 1);
    assert_int_equal(lbt_xlen(t->c, "s"), 150);

    assert_int_equal(rename(p1, p2), 0);
    expect_rc(IMPORT(t, "--summary", "json", p2), 0);
    verify(t, &t->f, s1, 0, t->f.n, 0);
    expect_covered_by(0, s1);
    assert_int_equal(hlen(t), 1);
    /* and once more: nothing */
    expect_rc(IMPORT(t, p2), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 300);
    assert_int_equal(lbt_xlen(t->c, DLQ), 1);
}

/* ---- tail read it first ------------------------------------------------------------ */

/* tail read app.log; logrotate renamed it to app.log.1; importing app.log.1
 * writes nothing (was 200 more, no warning), and says which src covered it,
 * in a dry run too. */
static void import_identity_generation_tail_read_writes_nothing(void **state)
{
    struct fx_import *t = *state;
    char live[512], p1[512], slive[PATH_MAX];
    path_in(t, "app.log", live, sizeof(live));
    path_in(t, "app.log.1", p1, sizeof(p1));
    assert_int_equal(lb_abs_path(live, slive, sizeof(slive)), 0);
    gen_valid(&t->f, 200, 5);
    assert_int_equal(iu_fix_write(&t->f, live), 0);
    expect_rc(TAIL(t, "--once", live), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 200);
    assert_int_equal(rename(live, p1), 0);

    expect_rc(IMPORT(t, "--dry-run", "--summary", "json", p1), 0);
    expect_covered_by(0, slive);
    cJSON *sum = iu_summary(out);
    assert_int_equal((long long)iu_jnum(sum, 0, "lines"), 0);
    cJSON_Delete(sum);

    char *before = ckpt_dump(t);
    expect_rc(IMPORT(t, "--summary", "json", p1), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 200);
    expect_covered_by(0, slive);
    expect_skipped(0, 1);
    assert_non_null(strstr(err, slive)); /* the info line names the src */
    char *after = ckpt_dump(t);
    assert_string_equal(after, before);
    free(before);
    free(after);
}

/* The same bytes under another inode: a plain copy and a .gz of a file tail
 * has read. Both are recognised by fingerprint and size; nothing written,
 * no checkpoint made for them. */
static void import_identity_copies_of_a_tailed_file_write_nothing(void **state)
{
    struct fx_import *t = *state;
    char live[512], cp[512], gz[512], slive[PATH_MAX];
    path_in(t, "app.log", live, sizeof(live));
    path_in(t, "app.log.copy", cp, sizeof(cp));
    path_in(t, "app.log.1.gz", gz, sizeof(gz));
    assert_int_equal(lb_abs_path(live, slive, sizeof(slive)), 0);
    gen_valid(&t->f, 200, 6);
    assert_int_equal(iu_fix_write(&t->f, live), 0);
    expect_rc(TAIL(t, "--once", live), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 200);
    assert_int_equal(iu_fix_write(&t->f, cp), 0);
    assert_int_equal(iu_fix_write_gz(&t->f, gz), 0);

    char *before = ckpt_dump(t);
    expect_rc(IMPORT(t, "--summary", "json", cp, gz), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 200);
    expect_covered_by(0, slive);
    expect_covered_by(1, slive);
    expect_skipped(0, 1);
    expect_skipped(1, 1);
    char *after = ckpt_dump(t);
    assert_string_equal(after, before);
    free(before);
    free(after);
}

/* The search does not swallow what it must not: a different file (other
 * identity, other first bytes) next to a tailed one is imported whole, and
 * so is a longer file that only starts with the bytes a src is reading (a
 * copy is recognised by fingerprint and size), plain or .gz. */
static void import_identity_other_content_is_imported(void **state)
{
    struct fx_import *t = *state;
    char live[512], other[512], longer[512], longer_gz[512];
    path_in(t, "app.log", live, sizeof(live));
    path_in(t, "other.log", other, sizeof(other));
    path_in(t, "longer.log", longer, sizeof(longer));
    path_in(t, "longer.log.gz", longer_gz, sizeof(longer_gz));
    gen_valid(&t->f, 200, 7);
    gen_valid(&t->f2, 200, 8);
    assert_int_equal(iu_fix_write(&t->f, live), 0);
    assert_int_equal(iu_fix_write(&t->f2, other), 0);
    expect_rc(TAIL(t, "--once", live), 0);
    expect_rc(IMPORT(t, "--summary", "json", other), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 400);
    expect_covered_by(0, NULL);
    gen_valid(&t->f, 50, 15); /* f1 = the tailed 200 lines + 50 more */
    assert_int_equal(iu_fix_write(&t->f, longer), 0);
    assert_int_equal(iu_fix_write_gz(&t->f, longer_gz), 0);
    expect_rc(IMPORT(t, "--summary", "json", longer_gz), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 400 + 250);
    expect_covered_by(0, NULL);
    /* and the plain file with the same 250 lines is that .gz's content */
    char sgz[PATH_MAX];
    assert_int_equal(lb_abs_path(longer_gz, sgz, sizeof(sgz)), 0);
    expect_rc(IMPORT(t, "--summary", "json", longer), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 400 + 250);
    expect_covered_by(0, sgz);
    /* a plain file longer than every src's content is another file */
    char longer2[512];
    path_in(t, "longer2.log", longer2, sizeof(longer2));
    gen_valid(&t->f, 1, 16);
    assert_int_equal(iu_fix_write(&t->f, longer2), 0);
    expect_rc(IMPORT(t, "--summary", "json", longer2), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 400 + 250 + 251);
    expect_covered_by(0, NULL);
}

/* ---- finished generations ("done") -------------------------------------------------- */

static void hset_ckpt(struct fx_import *t, const char *src, const char *json)
{
    redisReply *rep = redisCommand(t->c, "HSET %s %s %s", CKPT, src, json);
    assert_non_null(rep);
    assert_int_not_equal(rep->type, REDIS_REPLY_ERROR);
    freeReplyObject(rep);
}

/* A src's checkpoint lists a finished generation in "done" (as the batch
 * script writes it when a src moves to a new file): that file, a copy and a
 * .gz of it are covered whole. Hand-written checkpoints: the list is what
 * is tested here, not how tail fills it. */
static void import_identity_done_generation_is_covered(void **state)
{
    struct fx_import *t = *state;
    char p1[512], cp[512], gz[512];
    path_in(t, "app.log.1", p1, sizeof(p1));
    path_in(t, "app.log.1.copy", cp, sizeof(cp));
    path_in(t, "app.log.1.gz", gz, sizeof(gz));
    gen_valid(&t->f, 100, 9);
    assert_int_equal(iu_fix_write(&t->f, p1), 0);
    assert_int_equal(iu_fix_write(&t->f, cp), 0);
    assert_int_equal(iu_fix_write_gz(&t->f, gz), 0);
    struct stat sb;
    assert_int_equal(stat(p1, &sb), 0);
    char fp[LB_FP_HEX], json[1024];
    lb_fp_hex(t->f.buf, t->f.len < LB_FP_LEN ? t->f.len : LB_FP_LEN, fp);
    /* the current generation is some other file; app.log.1 is done[1] */
    snprintf(json, sizeof(json),
             "{\"dev\":1,\"ino\":2,\"fp\":\"0123456789abcdef\",\"off\":10,\"line\":1,\"id\":\"\","
             "\"done\":[{\"dev\":1,\"ino\":3,\"fp\":\"0123456789abcdef\",\"off\":5,\"line\":1},"
             "{\"dev\":%llu,\"ino\":%llu,\"fp\":\"%s\",\"off\":%zu,\"line\":100}]}",
             (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino, fp, t->f.len);
    hset_ckpt(t, "/var/log/app.log", json);
    char *before = ckpt_dump(t);
    expect_rc(IMPORT(t, "--summary", "json", p1, cp, gz), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 0);
    for (int i = 0; i < 3; i++) {
        expect_covered_by(i, "/var/log/app.log");
        expect_skipped(i, 1);
    }
    char *after = ckpt_dump(t);
    assert_string_equal(after, before);
    free(before);
    free(after);
}

/* A .gz of a generation that holds more than its src committed before
 * moving on (late writes): the first part is covered, the rest is imported
 * exactly once under the .gz's own src, whose checkpoint starts where the
 * cover ends. A rerun writes nothing. */
static void import_identity_rest_past_a_done_generation_is_imported(void **state)
{
    struct fx_import *t = *state;
    char gz[512], sgz[PATH_MAX];
    path_in(t, "app.log.1.gz", gz, sizeof(gz));
    assert_int_equal(lb_abs_path(gz, sgz, sizeof(sgz)), 0);
    gen_valid(&t->f, 120, 10);
    iu_fix_bad(&t->f, "a bad line after the cover", "fields");
    gen_valid(&t->f, 79, 11);
    assert_int_equal(iu_fix_write_gz(&t->f, gz), 0);
    uint64_t cover = iu_fix_line_end(&t->f, 99); /* 100 lines committed */
    char fp[LB_FP_HEX], json[1024];
    lb_fp_hex(t->f.buf, cover < LB_FP_LEN ? cover : LB_FP_LEN, fp);
    snprintf(json, sizeof(json),
             "{\"dev\":1,\"ino\":2,\"fp\":\"0123456789abcdef\",\"off\":10,\"line\":1,\"id\":\"\","
             "\"done\":[{\"dev\":1,\"ino\":7,\"fp\":\"%s\",\"off\":%" PRIu64 ",\"line\":100}]}",
             fp, cover);
    hset_ckpt(t, "/var/log/app.log", json);
    expect_rc(IMPORT(t, "--summary", "json", gz), 0);
    expect_covered_by(0, "/var/log/app.log");
    verify(t, &t->f, sgz, 100, t->f.n, 0);
    char why[1024];
    if (iu_check_ckpt(t->c, CKPT, sgz, &t->f, t->f.n, NULL, NULL, why, sizeof(why)) != 0)
        fail_msg("%s", why);
    expect_rc(IMPORT(t, gz), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 99);
    assert_int_equal(lbt_xlen(t->c, DLQ), 1);
}

/* The same, but the .gz's own src has a checkpoint that describes another
 * file: that checkpoint is not replaced; the rest is not imported, and a
 * warning says so with the offset. */
static void import_identity_never_replaces_a_checkpoint_of_another_file(void **state)
{
    struct fx_import *t = *state;
    char gz[512], sgz[PATH_MAX];
    path_in(t, "app.log.1.gz", gz, sizeof(gz));
    assert_int_equal(lb_abs_path(gz, sgz, sizeof(sgz)), 0);
    gen_valid(&t->f, 200, 12);
    assert_int_equal(iu_fix_write_gz(&t->f, gz), 0);
    uint64_t cover = iu_fix_line_end(&t->f, 99);
    char fp[LB_FP_HEX], json[1024];
    lb_fp_hex(t->f.buf, cover < LB_FP_LEN ? cover : LB_FP_LEN, fp);
    snprintf(json, sizeof(json),
             "{\"dev\":1,\"ino\":2,\"fp\":\"0123456789abcdef\",\"off\":10,\"line\":1,\"id\":\"\","
             "\"done\":[{\"dev\":1,\"ino\":7,\"fp\":\"%s\",\"off\":%" PRIu64 ",\"line\":100}]}",
             fp, cover);
    hset_ckpt(t, "/var/log/app.log", json);
    hset_ckpt(
        t, sgz,
        "{\"dev\":9,\"ino\":9,\"fp\":\"fedcba9876543210\",\"off\":77,\"line\":3,\"id\":\"\"}");
    char *before = ckpt_dump(t);
    expect_rc(IMPORT(t, "--summary", "json", gz), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 0);
    char *after = ckpt_dump(t);
    assert_string_equal(after, before);
    free(before);
    free(after);
    char want[64];
    snprintf(want, sizeof(want), "off=%" PRIu64 " are not imported", cover);
    if (strstr(err, want) == NULL)
        fail_msg("no warning with '%s':\n%s", want, err);
}

/* ---- end to end: tail moves on, import of the old generation -------------------------- */

/* tail reads app.log, logrotate renames it and a new app.log appears, tail
 * reads both (its checkpoint moves to the new file and keeps the old one in
 * "done"); importing app.log.1 writes nothing (was 200 more). */
static void import_identity_generation_tail_finished_writes_nothing(void **state)
{
    struct fx_import *t = *state;
    char live[512], p1[512], slive[PATH_MAX];
    path_in(t, "app.log", live, sizeof(live));
    path_in(t, "app.log.1", p1, sizeof(p1));
    assert_int_equal(lb_abs_path(live, slive, sizeof(slive)), 0);
    gen_valid(&t->f, 200, 13);
    gen_valid(&t->f2, 50, 14);
    assert_int_equal(iu_fix_write(&t->f, live), 0);
    expect_rc(TAIL(t, "--once", live), 0);
    assert_int_equal(rename(live, p1), 0);
    assert_int_equal(iu_fix_write(&t->f2, live), 0);
    expect_rc(TAIL(t, "--once", "--rotate-wait", "0", live), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 250);
    struct lb_ckpt ck;
    assert_int_equal(iu_ckpt(t->c, CKPT, slive, &ck), 1);
    if (ck.ndone == 0) {
        print_message("skipped: the checkpoint of %s has no \"done\" list yet (the batch "
                      "script does not write it on this branch)\n",
                      slive);
        skip();
    }
    expect_rc(IMPORT(t, "--summary", "json", p1), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 250);
    expect_covered_by(0, slive);
    expect_skipped(0, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_import_setup_shared, fx_import_teardown)
        T(import_identity_renamed_generations_write_nothing),
        T(import_identity_renamed_partial_import_resumes_under_its_src),
        T(import_identity_generation_tail_read_writes_nothing),
        T(import_identity_copies_of_a_tailed_file_write_nothing),
        T(import_identity_other_content_is_imported),
        T(import_identity_done_generation_is_covered),
        T(import_identity_rest_past_a_done_generation_is_imported),
        T(import_identity_never_replaces_a_checkpoint_of_another_file),
        T(import_identity_generation_tail_finished_writes_nothing),
#undef T
    };
    return cmocka_run_group_tests(tests, fx_import_group_setup, fx_import_group_teardown);
}
