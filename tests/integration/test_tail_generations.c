/*
 * test_tail_generations.c - `logbridge tail` finds every generation of a
 * route by identity (dev, inode and fingerprint together) after rotations it
 * did not see (DESIGN.md 4.4): two renames with inode reuse and a gzip in
 * between, two copytruncates, a symlink whose target was switched twice, all
 * while logbridge was stopped; `--once` drains every generation it knows;
 * a rotation backlog is drained at full speed; what cannot be recovered is
 * said at warn and counted; a tail killed before its first batch finds the
 * generations rotated while it was down. Each count is exact; each wait has
 * a deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "lbt_prom.h"
#include "lbtest.h"
#include "fx_tail.h"
#include "tail_util.h"

#define CK "logbridge:ckpt:{s}"

struct t {
    struct fx_tail fx; /* first: fx_tail_setup_sized */
    int rotations, gap_ms;
    long per_gen;
};

static int setup(void **state)
{
    return fx_tail_setup_sized(state, sizeof(struct t), 0);
}

/* `logbridge tail --redis URL --stream s ARGS...` to its end; its stderr is
 * appended to t->fx.log. */
static int run_tail(struct t *t, ...)
{
    struct tu_args a;
    tu_args_init(&a);
    tu_args_add(&a, "tail", "--redis", t->fx.r.url, "--stream", "s", "--metrics-file",
                t->fx.metrics, NULL);
    va_list ap;
    va_start(ap, t);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL)
        tu_args_add(&a, s, NULL);
    va_end(ap);
    static char err[1 << 16];
    err[0] = '\0';
    int rc = lbt_run(a.v, NULL, 0, err, sizeof(err), NULL, 0);
    lbt_append_file(t->fx.log, err, strlen(err));
    assert_int_equal(tu_text_sane(err), 0);
    return rc;
}

static void check_seq(struct t *t, const char *src, long n)
{
    fx_tail_check_seq(&t->fx, src, n, 1, 6000);
    assert_int_equal(lbt_xlen(t->fx.c, "s"), n);
}

static double metric(struct t *t, const char *name, const char *src)
{
    size_t n;
    char *text = lbt_read_file(t->fx.metrics, &n);
    assert_non_null(text);
    struct lbt_prom p;
    if (lbt_prom_parse(text, &p) != 0)
        fail_msg("metrics file: %s", p.err);
    const struct lbt_prom_sample *s = lbt_prom_find(&p, name, "src", src, (const char *)NULL);
    double v = s != NULL ? s->value : -1;
    lbt_prom_free(&p);
    free(text);
    return v;
}

static unsigned long long ino_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (unsigned long long)st.st_ino;
}

static void sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

/* Point the checkpoint of src at inode ino (a file system that did not reuse
 * the inode is made to look as if it had). */
static void ckpt_set_ino(struct t *t, const char *src, unsigned long long ino)
{
    redisReply *r = redisCommand(t->fx.c, "HGET %s %s", CK, src);
    assert_true(r != NULL && r->type == REDIS_REPLY_STRING);
    char *v = strdup(r->str);
    freeReplyObject(r);
    char *p = strstr(v, "\"ino\":");
    assert_non_null(p);
    char *e = p + 6;
    while (*e >= '0' && *e <= '9')
        e++;
    char nv[1024];
    snprintf(nv, sizeof(nv), "%.*s\"ino\":%llu%s", (int)(p - v), v, ino, e);
    r = redisCommand(t->fx.c, "HSET %s %s %s", CK, src, nv);
    assert_non_null(r);
    freeReplyObject(r);
    free(v);
}

/* Issue 9, item 3: stopped; rotated twice (rename), the first rotated file
 * gzip'ed, and the newest file gets the inode of the checkpointed one. The
 * generation in between (app.log.1, plain) must not be taken for nothing. */
static void tail_two_renames_inode_reused_while_stopped(void **state)
{
    struct t *t = *state;
    assert_int_equal(tu_append_lines(t->fx.path, 0, 0, 100, 10), 0);
    unsigned long long a_ino = ino_of(t->fx.path);
    assert_int_equal(run_tail(t, "--once", t->fx.path, NULL), 0);
    assert_int_equal(lbt_xlen(t->fx.c, "s"), 100);
    lbt_sleep_ms(20); /* generations are born apart: file times tick coarsely */
    sh("cd %s && mv app.log app.log.1", t->fx.dir);
    assert_int_equal(tu_append_lines(t->fx.path, 1, 100, 200, 10), 0);
    sh("cd %s && gzip app.log.1 && mv app.log.1.gz app.log.2.gz && mv app.log app.log.1",
       t->fx.dir);
    lbt_sleep_ms(20);
    assert_int_equal(tu_append_lines(t->fx.path, 2, 200, 300, 10), 0);
    unsigned long long c_ino = ino_of(t->fx.path);
    if (c_ino != a_ino) {
        printf("note: the file system did not reuse inode %llu; the checkpoint is made to name "
               "the new file's inode %llu\n",
               a_ino, c_ino);
        ckpt_set_ino(t, t->fx.path, c_ino);
    }
    assert_int_equal(run_tail(t, "--once", "--rotate-wait", "0", t->fx.path, NULL), 0);
    check_seq(t, t->fx.path, 300);
    assert_int_equal(metric(t, "logbridge_lost_bytes_total", t->fx.path), 0);
    /* and nothing again */
    assert_int_equal(run_tail(t, "--once", "--rotate-wait", "0", t->fx.path, NULL), 0);
    assert_int_equal(lbt_xlen(t->fx.c, "s"), 300);
}

/* Issue 9, item 5: --once after a rename rotation reads the rest of the
 * rotated file and the new file, and leaves no lag. */
static void tail_once_drains_rotated_and_new_file(void **state)
{
    struct t *t = *state;
    char r1[600];
    snprintf(r1, sizeof(r1), "%s.1", t->fx.path);
    assert_int_equal(tu_append_lines(t->fx.path, 0, 0, 50, 10), 0);
    assert_int_equal(run_tail(t, "--once", t->fx.path, NULL), 0);
    assert_int_equal(tu_append_lines(t->fx.path, 0, 50, 100, 10), 0);
    assert_int_equal(rename(t->fx.path, r1), 0);
    assert_int_equal(tu_append_lines(t->fx.path, 1, 100, 150, 10), 0);
    /* the default --rotate-wait (5 s) counts from the rotated file's last
     * change: --once waits that long at most, then drains the new file */
    int64_t t0 = lbt_now_ms();
    assert_int_equal(run_tail(t, "--once", "--rotate-wait", "1", t->fx.path, NULL), 0);
    int64_t took = lbt_now_ms() - t0;
    check_seq(t, t->fx.path, 150);
    long long line = 0;
    struct stat st;
    assert_int_equal(stat(t->fx.path, &st), 0);
    assert_int_equal(tu_ckpt_off(t->fx.c, CK, t->fx.path, &line), (long long)st.st_size);
    assert_int_equal(line, 50);
    assert_true(took < 5000);
    /* a rotated file that has been quiet for --rotate-wait: no wait at all */
    assert_int_equal(tu_append_lines(t->fx.path, 1, 150, 200, 10), 0);
    char r2[600];
    snprintf(r2, sizeof(r2), "%s.2", t->fx.path);
    assert_int_equal(rename(r1, r2), 0);
    assert_int_equal(rename(t->fx.path, r1), 0);
    assert_int_equal(tu_append_lines(t->fx.path, 2, 200, 250, 10), 0);
    assert_int_equal(run_tail(t, "--once", "--rotate-wait", "0", t->fx.path, NULL), 0);
    check_seq(t, t->fx.path, 250);
}

/* Issue 9, item 9: two copytruncates while stopped: the copy holding the
 * bytes past the checkpoint is read from there, the copy made after it
 * whole, then the live file. */
static void tail_two_copytruncates_while_stopped(void **state)
{
    struct t *t = *state;
    assert_int_equal(tu_append_lines(t->fx.path, 0, 0, 100, 10), 0);
    assert_int_equal(run_tail(t, "--once", t->fx.path, NULL), 0);
    assert_int_equal(tu_append_lines(t->fx.path, 0, 100, 150, 10), 0);
    lbt_sleep_ms(20);
    sh("cd %s && cp app.log app.log.1 && truncate -s 0 app.log", t->fx.dir);
    assert_int_equal(tu_append_lines(t->fx.path, 1, 150, 250, 10), 0);
    lbt_sleep_ms(20);
    sh("cd %s && mv app.log.1 app.log.2 && cp app.log app.log.1 && truncate -s 0 app.log",
       t->fx.dir);
    assert_int_equal(tu_append_lines(t->fx.path, 2, 250, 350, 10), 0);
    assert_int_equal(run_tail(t, "--once", "--rotate-wait", "0", t->fx.path, NULL), 0);
    check_seq(t, t->fx.path, 350);
    assert_int_equal(metric(t, "logbridge_lost_bytes_total", t->fx.path), 0);
    assert_int_equal(run_tail(t, "--once", "--rotate-wait", "0", t->fx.path, NULL), 0);
    assert_int_equal(lbt_xlen(t->fx.c, "s"), 350);
}

/* Issue 9, item 9: current.log is a link to dated files in another
 * directory (rotatelogs -l); its target is switched twice while stopped. */
static void tail_symlink_switched_twice_while_stopped(void **state)
{
    struct t *t = *state;
    char link[600], d1[600], d2[600], d3[600];
    snprintf(link, sizeof(link), "%s/current.log", t->fx.dir);
    sh("mkdir %s/dated", t->fx.dir);
    snprintf(d1, sizeof(d1), "%s/dated/app.20250618-10.log", t->fx.dir);
    snprintf(d2, sizeof(d2), "%s/dated/app.20250618-11.log", t->fx.dir);
    snprintf(d3, sizeof(d3), "%s/dated/app.20250618-12.log", t->fx.dir);
    assert_int_equal(tu_append_lines(d1, 0, 0, 100, 10), 0);
    assert_int_equal(symlink(d1, link), 0);
    assert_int_equal(run_tail(t, "--once", link, NULL), 0);
    assert_int_equal(tu_append_lines(d1, 0, 100, 120, 10), 0);
    lbt_sleep_ms(20);
    assert_int_equal(tu_append_lines(d2, 1, 120, 220, 10), 0);
    sh("ln -sfn %s %s", d2, link);
    lbt_sleep_ms(20);
    assert_int_equal(tu_append_lines(d3, 2, 220, 320, 10), 0);
    sh("ln -sfn %s %s", d3, link);
    assert_int_equal(run_tail(t, "--once", "--rotate-wait", "0", link, NULL), 0);
    check_seq(t, link, 320);
    assert_int_equal(run_tail(t, "--once", "--rotate-wait", "0", link, NULL), 0);
    assert_int_equal(lbt_xlen(t->fx.c, "s"), 320);
}

/* What cannot be recovered is said at warn with its byte count and counted:
 * the checkpointed file was cut short by someone (not a rotation). */
static void tail_unrecoverable_bytes_are_counted(void **state)
{
    struct t *t = *state;
    assert_int_equal(tu_append_lines(t->fx.path, 0, 0, 100, 10), 0);
    assert_int_equal(run_tail(t, "--once", t->fx.path, NULL), 0);
    assert_int_equal(tu_append_lines(t->fx.path, 0, 100, 150, 10), 0);
    struct stat st;
    assert_int_equal(stat(t->fx.path, &st), 0);
    /* rotated away, then compressed with something we cannot read */
    char r1[600];
    snprintf(r1, sizeof(r1), "%s.1", t->fx.path);
    assert_int_equal(rename(t->fx.path, r1), 0);
    sh("cd %s && (printf '\\3757zXZ\\0'; cat app.log.1) > app.log.1.xz && rm app.log.1", t->fx.dir);
    assert_int_equal(tu_append_lines(t->fx.path, 1, 150, 200, 10), 0);
    assert_int_equal(run_tail(t, "--once", "--rotate-wait", "0", t->fx.path, NULL), 0);
    /* lines 100..149 are lost with it, said at warn; the new file is read */
    assert_int_equal(lbt_xlen(t->fx.c, "s"), 150);
    assert_int_equal(lbt_xlen(t->fx.c, "logbridge:dlq:{s}"), 0);
    assert_int_equal(stat(t->fx.path, &st), 0);
    assert_int_equal(tu_ckpt_off(t->fx.c, CK, t->fx.path, NULL), (long long)st.st_size);
    assert_true(tu_file_has(t->fx.log, "is lost"));
}

/* Issue 9, item 9: a rotation backlog (23 renames 250 ms apart, --rotate-wait
 * 1) is drained at full speed once nobody writes the rotated files: the last
 * line is in the stream soon after the writer stops, and the open files do
 * not pile up. */
static int count_fds(pid_t pid)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(p);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static int writer_backlog(void *ctx)
{
    struct t *t = ctx;
    long seq = 1;
    for (int gen = 0; gen <= t->rotations; gen++) {
        int64_t end = lbt_now_ms() + t->gap_ms;
        while (lbt_now_ms() < end) {
            if (tu_append_lines(t->fx.path, gen, seq, seq + 20, 40) != 0)
                return 1;
            seq += 20;
            lbt_sleep_ms(2);
        }
        if (gen < t->rotations) {
            char r[600];
            snprintf(r, sizeof(r), "%s.%d", t->fx.path, gen + 1);
            if (rename(t->fx.path, r) != 0)
                return 2;
        }
    }
    char n[64];
    snprintf(n, sizeof(n), "%ld", seq);
    return lbt_write_file(t->fx.metrics, n, strlen(n)) != 0 ? 3 : 0;
}

static void tail_rotation_backlog_drained_at_full_speed(void **state)
{
    struct t *t = *state;
    t->rotations = 23;
    t->gap_ms = 250;
    assert_int_equal(tu_append_lines(t->fx.path, 0, 0, 1, 0), 0);
    fx_tail_spawn(&t->fx, "--rotate-wait", "1", t->fx.path, NULL);
    assert_true(tu_wait_xlen(t->fx.c, "s", 1, 20000));
    t->fx.writer = tu_fork(writer_backlog, t);
    assert_true(t->fx.writer > 0);
    int code = -1, maxfd = 0;
    while (!tu_try_wait(t->fx.writer, &code)) {
        int n = count_fds(t->fx.pid);
        if (n > maxfd)
            maxfd = n;
        lbt_sleep_ms(20);
    }
    t->fx.writer = 0;
    assert_int_equal(code, 0);
    int64_t stopped = lbt_now_ms();
    size_t n;
    char *txt = lbt_read_file(t->fx.metrics, &n);
    assert_non_null(txt);
    long lines = atol(txt);
    free(txt);
    int ok = tu_wait_xlen(t->fx.c, "s", lines, 30000);
    int64_t took = lbt_now_ms() - stopped;
    printf("backlog: %ld lines, the last one %lld ms after the writer stopped; at most %d fds\n",
           lines, (long long)took, maxfd);
    if (!ok) {
        tu_dump(t->fx.log, 4000);
        char why[512] = "";
        tu_check_seq(t->fx.c, "s", t->fx.path, lines, 0, why, sizeof(why));
        if (getenv("LB_KEEP_LOG")) {
            char cmd[1400];
            snprintf(cmd, sizeof(cmd), "cp %s %s/stall.log; ls -li --time-style=full-iso %s > %s/stall.ls",
                     t->fx.log, getenv("LB_KEEP_LOG"), t->fx.dir, getenv("LB_KEEP_LOG"));
            if (system(cmd) != 0)
                fprintf(stderr, "could not keep the log\n");
        }
        fail_msg("XLEN s = %lld, expected %ld: %s", lbt_xlen(t->fx.c, "s"), lines, why);
    }
    kill(t->fx.pid, SIGTERM);
    assert_int_equal(lbt_wait(t->fx.pid), 0);
    t->fx.pid = 0;
    check_seq(t, t->fx.path, lines);
    /* the last generation is current: only the rotate-wait of the one before
     * it may delay anything (before: 17 s, one rotate-wait per generation;
     * the margin is for a loaded machine) */
    assert_true(took < 5000);
    /* generations quiet for --rotate-wait are closed: with 250 ms between
     * rotations, about 1 s / 250 ms of them are open at once (before: 27
     * fds and growing with the backlog; 18 here when idle, 22 seen under
     * load) */
    assert_true(maxfd < 25);
}

/* tail records where it starts in a file with no checkpoint before it has a
 * line to send. Killed (-9) before its first batch, the file rotated twice
 * (rename) while it is down, a new file appearing at the path each time:
 * the restart finds the generation it was following by its inode and reads
 * all three, oldest first. Before, nothing was recorded until the first
 * batch, and the restart read only the file at the path: the 200 lines of
 * the two rotated generations were lost. */
static void tail_killed_before_its_first_batch_then_rotated_twice(void **state)
{
    struct t *t = *state;
    char r1[600], r2[600];
    snprintf(r1, sizeof(r1), "%s.1", t->fx.path);
    snprintf(r2, sizeof(r2), "%s.2", t->fx.path);
    assert_int_equal(lbt_write_file(t->fx.path, "", 0), 0);
    fx_tail_spawn(&t->fx, "--rotate-wait", "0", t->fx.path, NULL);
    if (!tu_wait_ckpt(t->fx.c, CK, t->fx.path, 0, 10000)) {
        tu_dump(t->fx.log, 3000);
        fail_msg("tail follows %s and has recorded no checkpoint for it", t->fx.path);
    }
    fx_tail_stop(&t->fx, SIGKILL);
    assert_int_equal(tu_append_lines(t->fx.path, 0, 0, 100, 10), 0);
    assert_int_equal(rename(t->fx.path, r1), 0);
    lbt_sleep_ms(20); /* generations are born apart: file times tick coarsely */
    assert_int_equal(tu_append_lines(t->fx.path, 1, 100, 200, 10), 0);
    assert_int_equal(rename(r1, r2), 0);
    assert_int_equal(rename(t->fx.path, r1), 0);
    lbt_sleep_ms(20);
    assert_int_equal(tu_append_lines(t->fx.path, 2, 200, 300, 10), 0);
    fx_tail_spawn(&t->fx, "--rotate-wait", "0", "--metrics-file", t->fx.metrics, t->fx.path,
                  NULL);
    fx_tail_wait_xlen(&t->fx, 300, 30000);
    struct stat st;
    assert_int_equal(stat(t->fx.path, &st), 0);
    assert_true(tu_wait_ckpt(t->fx.c, CK, t->fx.path, (long long)st.st_size, 30000));
    assert_int_equal(fx_tail_stop(&t->fx, SIGTERM), 0);
    check_seq(t, t->fx.path, 300);
    assert_int_equal(metric(t, "logbridge_lost_bytes_total", t->fx.path), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tail_two_renames_inode_reused_while_stopped, setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_once_drains_rotated_and_new_file, setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_two_copytruncates_while_stopped, setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_symlink_switched_twice_while_stopped, setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_unrecoverable_bytes_are_counted, setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_rotation_backlog_drained_at_full_speed, setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_killed_before_its_first_batch_then_rotated_twice,
                                        setup, fx_tail_teardown),
    };
    /* LB_TEST_FILTER=tail_rotation_backlog* runs the matching tests alone */
    if (getenv("LB_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("LB_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
