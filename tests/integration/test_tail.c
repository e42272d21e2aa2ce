/*
 * test_tail.c - `logbridge tail`, one behaviour at a time, against a real
 * redis-server and real files: --once, following appends, a partial last
 * line completed later, --from end, the import -> tail hand-over, a glob
 * gaining a file, delete + create, rotation while logbridge was stopped
 * (rename, copytruncate, compressed, gone), SIGTERM/SIGHUP, metrics and
 * usage errors. Every count is exact; every wait has a deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "lbtest.h"
#include "tail_int.h"
#include "fx_tail.h"
#include "tail_util.h"

#define CK "logbridge:ckpt:{s}"
#define DLQ "logbridge:dlq:{s}"

#define WAIT_MS 20000

/* ---- tests ------------------------------------------------------------------------ */

static void tail_once_reads_lines_and_holds_partial(void **state)
{
    struct fx_tail *t = *state;
    assert_int_equal(tu_append_lines(t->path, 0, 0, 500, 20), 0);
    assert_int_equal(lbt_append_file(t->path, "bad line\n\n", 10), 0);
    char part[256];
    size_t pn = tu_line(part, sizeof(part), 0, 500, 5);
    struct stat st;
    stat(t->path, &st);
    long long before = st.st_size;
    assert_int_equal(lbt_append_file(t->path, part, 10), 0);
    char err[4096];
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--once", t->path, NULL), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 500);
    assert_int_equal(lbt_xlen(t->c, DLQ), 1);
    long long line = 0;
    assert_int_equal(tu_ckpt_off(t->c, CK, t->path, &line), before);
    assert_int_equal(line, 502);
    /* the rest of the line arrives: the next run continues at the exact byte */
    assert_int_equal(lbt_append_file(t->path, part + 10, pn - 10), 0);
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--once", t->path, NULL), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 501);
    assert_int_equal(lbt_xlen(t->c, DLQ), 1);
    fx_tail_check_seq(t, t->path, 501, 1, 3000);
    /* and a third run writes nothing */
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--once", t->path, NULL), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 501);
}

static void tail_follows_appends_and_partial_completed_later(void **state)
{
    struct fx_tail *t = *state;
    assert_int_equal(tu_append_lines(t->path, 0, 0, 100, 10), 0);
    fx_tail_spawn(t, t->path, NULL);
    fx_tail_wait_xlen(t, 100, WAIT_MS);
    /* two lines and the start of a third in one write */
    char buf[1024];
    size_t n = tu_line(buf, sizeof(buf), 0, 100, 10);
    n += tu_line(buf + n, sizeof(buf) - n, 0, 101, 10);
    size_t l3 = tu_line(buf + n, sizeof(buf) - n, 0, 102, 10);
    struct stat st;
    stat(t->path, &st);
    long long at_partial = st.st_size + (long long)n;
    assert_int_equal(lbt_append_file(t->path, buf, n + 7), 0);
    fx_tail_wait_xlen(t, 102, WAIT_MS);
    assert_true(tu_wait_ckpt(t->c, CK, t->path, at_partial, 10000));
    assert_int_equal(tu_ckpt_off(t->c, CK, t->path, NULL), at_partial);
    assert_int_equal(lbt_xlen(t->c, "s"), 102);
    assert_int_equal(lbt_append_file(t->path, buf + n + 7, l3 - 7), 0);
    fx_tail_wait_xlen(t, 103, WAIT_MS);
    assert_int_equal(tu_append_lines(t->path, 0, 103, 1000, 10), 0);
    fx_tail_wait_xlen(t, 1000, WAIT_MS);
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 1000);
    fx_tail_check_seq(t, t->path, 1000, 1, 3000);
}

static void tail_from_end_skips_existing_lines(void **state)
{
    struct fx_tail *t = *state;
    assert_int_equal(tu_append_lines(t->path, 0, 0, 50, 10), 0);
    struct stat st;
    stat(t->path, &st);
    fx_tail_spawn(t, "--from", "end", t->path, NULL);
    /* the start is recorded at once, so a restart does not skip lines */
    assert_true(tu_wait_ckpt(t->c, CK, t->path, st.st_size, 10000));
    assert_int_equal(tu_append_lines(t->path, 1, 50, 80, 10), 0);
    fx_tail_wait_xlen(t, 30, WAIT_MS);
    assert_int_equal(fx_tail_stop(t, SIGINT), 0);
    assert_int_equal(tu_append_lines(t->path, 1, 80, 90, 10), 0);
    char err[2048];
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--once", "--from", "end", t->path, NULL), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 40);
    struct lbt_entry *e;
    long ne = lbt_xrange_all(t->c, "s", &e);
    assert_int_equal(ne, 40);
    for (long i = 0; i < ne; i++)
        assert_int_equal(strtol(lbt_field(&e[i], "data"), NULL, 10), 50 + i);
    lbt_entries_free(e, ne);
}

static void tail_continues_after_import(void **state)
{
    struct fx_tail *t = *state;
    assert_int_equal(tu_append_lines(t->path, 0, 0, 300, 10), 0);
    char part[256];
    size_t pn = tu_line(part, sizeof(part), 0, 300, 10);
    assert_int_equal(lbt_append_file(t->path, part, 12), 0);
    const char *imp[] = {"import", "--redis", t->r.url, "--stream", "s", t->path, NULL};
    char out[4096], err[4096];
    assert_int_equal(lbt_run(imp, out, sizeof(out), err, sizeof(err), NULL, 0), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 300);
    assert_int_equal(lbt_append_file(t->path, part + 12, pn - 12), 0);
    assert_int_equal(tu_append_lines(t->path, 0, 301, 400, 10), 0);
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--once", t->path, NULL), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 400);
    fx_tail_check_seq(t, t->path, 400, 1, 3000);
    long long line = 0;
    struct stat st;
    stat(t->path, &st);
    assert_int_equal(tu_ckpt_off(t->c, CK, t->path, &line), st.st_size);
    assert_int_equal(line, 400);
}

static void tail_glob_gains_file(void **state)
{
    struct fx_tail *t = *state;
    char a[600], b[600], other[600], pat[600];
    snprintf(a, sizeof(a), "%s/a.log", t->dir);
    snprintf(b, sizeof(b), "%s/b.log", t->dir);
    snprintf(other, sizeof(other), "%s/c.txt", t->dir);
    snprintf(pat, sizeof(pat), "%s/*.log", t->dir);
    assert_int_equal(tu_append_lines(a, 0, 0, 100, 10), 0);
    fx_tail_spawn(t, pat, NULL);
    fx_tail_wait_xlen(t, 100, WAIT_MS);
    assert_int_equal(tu_append_lines(other, 0, 0, 10, 10), 0);
    assert_int_equal(tu_append_lines(b, 1, 0, 50, 10), 0);
    fx_tail_wait_xlen(t, 150, WAIT_MS);
    assert_int_equal(tu_append_lines(b, 1, 50, 80, 10), 0);
    assert_int_equal(tu_append_lines(a, 0, 100, 120, 10), 0);
    fx_tail_wait_xlen(t, 200, WAIT_MS);
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 200);
    fx_tail_check_seq(t, a, 120, 1, 3000);
    fx_tail_check_seq(t, b, 80, 1, 3000);
}

static void tail_delete_and_create(void **state)
{
    struct fx_tail *t = *state;
    assert_int_equal(tu_append_lines(t->path, 0, 0, 100, 10), 0);
    fx_tail_spawn(t, "--rotate-wait", "0.3", t->path, NULL);
    fx_tail_wait_xlen(t, 100, WAIT_MS);
    assert_int_equal(unlink(t->path), 0);
    assert_int_equal(tu_append_lines(t->path, 1, 100, 150, 10), 0);
    fx_tail_wait_xlen(t, 150, WAIT_MS);
    /* deleted for good: read to its end, then nothing; then created again */
    assert_int_equal(unlink(t->path), 0);
    assert_int_equal(tu_append_lines(t->path, 2, 150, 170, 10), 0);
    fx_tail_wait_xlen(t, 170, WAIT_MS);
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 170);
    fx_tail_check_seq(t, t->path, 170, 1, 3000);
    struct stat st;
    stat(t->path, &st);
    unsigned long long dev = 0, ino = 0;
    assert_int_equal(tu_ckpt_ident(t->c, CK, t->path, &dev, &ino), 0);
    assert_true(ino == (unsigned long long)st.st_ino);
}

static void tail_rename_while_stopped(void **state)
{
    struct fx_tail *t = *state;
    char old[600];
    snprintf(old, sizeof(old), "%s/app.log.1", t->dir);
    char err[4096];
    assert_int_equal(tu_append_lines(t->path, 0, 0, 200, 10), 0);
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--once", t->path, NULL), 0);
    assert_int_equal(tu_append_lines(t->path, 0, 200, 260, 10), 0);
    /* an unterminated last line: the old generation is over, so it counts */
    char part[256];
    size_t pn = tu_line(part, sizeof(part), 0, 260, 10);
    assert_int_equal(lbt_append_file(t->path, part, pn - 1), 0);
    assert_int_equal(rename(t->path, old), 0);
    assert_int_equal(tu_append_lines(t->path, 1, 261, 300, 10), 0);
    /* its last change is recent: --once waits --rotate-wait after it for
     * late writes, then finishes it and reads the new file (issue 9, item 5) */
    assert_int_equal(
        fx_tail_run(t, err, sizeof(err), "--once", "--rotate-wait", "1", t->path, NULL), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 300);
    fx_tail_check_seq(t, t->path, 300, 1, 3000);
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--once", t->path, NULL), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 300);
}

/* Two renames while logbridge was stopped (logrotate's numbering: .1 moves
 * to .2 first): the generation in between is found by birth time. */
static void tail_rotated_twice_while_stopped(void **state)
{
    struct fx_tail *t = *state;
    char r1[600], r2[600], err[4096];
    snprintf(r1, sizeof(r1), "%s/app.log.1", t->dir);
    snprintf(r2, sizeof(r2), "%s/app.log.2", t->dir);
    assert_int_equal(tu_append_lines(t->path, 0, 0, 100, 10), 0);
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--once", t->path, NULL), 0);
    int fd = open(t->path, O_RDONLY);
    assert_true(fd >= 0);
    int has_btime = lb_rot_btime(fd) > 0;
    close(fd);
    if (!has_btime) {
        printf("skip: the file system of %s keeps no birth times\n", t->dir);
        skip();
    }
    /* file times tick every few ms: pace the rotations as a real writer
     * would be paced (generations are born apart) */
    assert_int_equal(tu_append_lines(t->path, 0, 100, 150, 10), 0);
    assert_int_equal(rename(t->path, r1), 0);
    lbt_sleep_ms(20);
    assert_int_equal(tu_append_lines(t->path, 1, 150, 200, 10), 0);
    assert_int_equal(rename(r1, r2), 0);
    assert_int_equal(rename(t->path, r1), 0);
    lbt_sleep_ms(20);
    assert_int_equal(tu_append_lines(t->path, 2, 200, 230, 10), 0);
    assert_int_equal(
        fx_tail_run(t, err, sizeof(err), "--once", "--rotate-wait", "0", t->path, NULL), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 230);
    fx_tail_check_seq(t, t->path, 230, 1, 3000);
    /* and live: two rotations in a row, perhaps both before logbridge
     * handles the events (then the one in between is found by birth time) */
    fx_tail_spawn(t, "--rotate-wait", "0.2", t->path, NULL);
    assert_int_equal(tu_append_lines(t->path, 2, 230, 231, 10), 0);
    fx_tail_wait_xlen(t, 231, WAIT_MS);
    char r3[600], r4[600];
    snprintf(r3, sizeof(r3), "%s/app.log.3", t->dir);
    snprintf(r4, sizeof(r4), "%s/app.log.4", t->dir);
    assert_int_equal(rename(r2, r3), 0);
    assert_int_equal(rename(r1, r2), 0);
    assert_int_equal(rename(t->path, r1), 0);
    lbt_sleep_ms(20);
    assert_int_equal(tu_append_lines(t->path, 3, 231, 260, 10), 0);
    assert_int_equal(rename(r3, r4), 0);
    assert_int_equal(rename(r2, r3), 0);
    assert_int_equal(rename(r1, r2), 0);
    assert_int_equal(rename(t->path, r1), 0);
    lbt_sleep_ms(20);
    assert_int_equal(tu_append_lines(t->path, 4, 260, 290, 10), 0);
    fx_tail_wait_xlen(t, 290, WAIT_MS);
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
    fx_tail_check_seq(t, t->path, 290, 1, 3000);
}

static void tail_copytruncate_while_stopped(void **state)
{
    struct fx_tail *t = *state;
    char copy[600], err[4096];
    snprintf(copy, sizeof(copy), "%s/app.log.1", t->dir);
    assert_int_equal(tu_append_lines(t->path, 0, 0, 200, 10), 0);
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--once", t->path, NULL), 0);
    assert_int_equal(tu_append_lines(t->path, 0, 200, 250, 10), 0);
    size_t n = 0;
    char *bytes = lbt_read_file(t->path, &n);
    assert_int_equal(lbt_write_file(copy, bytes, n), 0);
    free(bytes);
    assert_int_equal(truncate(t->path, 0), 0);
    assert_int_equal(tu_append_lines(t->path, 1, 250, 270, 10), 0);
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--once", t->path, NULL), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 270);
    fx_tail_check_seq(t, t->path, 270, 1, 3000);
}

static int write_gz(const char *path, const char *data, size_t n)
{
    gzFile z = gzopen(path, "wb");
    if (z == NULL)
        return -1;
    int ok = gzwrite(z, data, (unsigned)n) == (int)n;
    return gzclose(z) == Z_OK && ok ? 0 : -1;
}

static void tail_rotated_and_compressed_while_stopped(void **state)
{
    struct fx_tail *t = *state;
    char gz[600], err[4096];
    snprintf(gz, sizeof(gz), "%s/app.log.1.gz", t->dir);
    assert_int_equal(tu_append_lines(t->path, 0, 0, 2000, 30), 0);
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--once", t->path, NULL), 0);
    assert_int_equal(tu_append_lines(t->path, 0, 2000, 2100, 30), 0);
    size_t n = 0;
    char *bytes = lbt_read_file(t->path, &n);
    assert_int_equal(write_gz(gz, bytes, n), 0);
    free(bytes);
    assert_int_equal(unlink(t->path), 0);
    assert_int_equal(tu_append_lines(t->path, 1, 2100, 2150, 30), 0);
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--once", t->path, NULL), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 2150);
    fx_tail_check_seq(t, t->path, 2150, 1, 3000);
}

static void tail_rotated_generation_gone_is_reported(void **state)
{
    struct fx_tail *t = *state;
    char err[8192];
    assert_int_equal(tu_append_lines(t->path, 0, 0, 100, 10), 0);
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--once", t->path, NULL), 0);
    assert_int_equal(tu_append_lines(t->path, 0, 100, 120, 10), 0);
    assert_int_equal(unlink(t->path), 0);
    assert_int_equal(tu_append_lines(t->path, 1, 120, 130, 10), 0);
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--once", t->path, NULL), 0);
    assert_non_null(strstr(err, "warn"));
    assert_non_null(strstr(err, "byte count unknown"));
    assert_int_equal(lbt_xlen(t->c, "s"), 110);
}

struct pos_ctx {
    pid_t pid;
    const char *path;
    long long want;
};

static int pos_reached(void *p)
{
    struct pos_ctx *x = p;
    return tu_fd_pos(x->pid, x->path) >= x->want;
}

static void tail_truncated_without_copy_counts_lost_bytes(void **state)
{
    struct fx_tail *t = *state;
    char metrics[600];
    snprintf(metrics, sizeof(metrics), "%s/m.prom", t->dir);
    assert_int_equal(tu_append_lines(t->path, 0, 0, 100, 10), 0);
    fx_tail_spawn(t, "--metrics-file", metrics, t->path, NULL);
    fx_tail_wait_xlen(t, 100, WAIT_MS);
    /* a line without its newline: logbridge reads it and holds it back */
    char part[256];
    size_t pn = tu_line(part, sizeof(part), 0, 100, 10);
    assert_int_equal(lbt_append_file(t->path, part, pn - 1), 0);
    struct stat st;
    stat(t->path, &st);
    struct pos_ctx pc = {t->pid, t->path, (long long)st.st_size};
    assert_true(lbt_wait_for(pos_reached, &pc, 10000));
    /* cut without a copy: those bytes are gone, and must be reported */
    assert_int_equal(truncate(t->path, 0), 0);
    assert_int_equal(tu_append_lines(t->path, 1, 200, 210, 10), 0);
    fx_tail_wait_xlen(t, 110, WAIT_MS);
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
    char *m = lbt_read_file(metrics, NULL);
    assert_non_null(m);
    char want[700];
    snprintf(want, sizeof(want), "logbridge_lost_bytes_total{src=\"%s\"} %zu", t->path, pn - 1);
    if (strstr(m, want) == NULL)
        fail_msg("metrics lack '%s':\n%s", want, m);
    free(m);
    assert_true(tu_file_has(t->log, "bytes are lost"));
    struct lbt_entry *e;
    long ne = lbt_xrange_all(t->c, "s", &e);
    assert_int_equal(ne, 110);
    for (long i = 0; i < ne; i++)
        assert_int_equal(strtol(lbt_field(&e[i], "data"), NULL, 10), i < 100 ? i : 100 + i);
    lbt_entries_free(e, ne);
}

struct stat_ctx {
    const char *path;
};

static int exists(void *p)
{
    struct stat st;
    return stat(((struct stat_ctx *)p)->path, &st) == 0;
}

static void tail_sighup_reopens_log_and_sigterm_exits_0(void **state)
{
    struct fx_tail *t = *state;
    char logf[600], moved[600];
    snprintf(logf, sizeof(logf), "%s/own.log", t->dir);
    snprintf(moved, sizeof(moved), "%s/own.log.1", t->dir);
    assert_int_equal(tu_append_lines(t->path, 0, 0, 10, 10), 0);
    fx_tail_spawn(t, "--log-file", logf, t->path, NULL);
    fx_tail_wait_xlen(t, 10, WAIT_MS);
    assert_int_equal(rename(logf, moved), 0);
    kill(t->pid, SIGHUP);
    struct stat_ctx sc = {logf};
    assert_true(lbt_wait_for(exists, &sc, 10000));
    assert_int_equal(tu_append_lines(t->path, 0, 10, 20, 10), 0);
    fx_tail_wait_xlen(t, 20, WAIT_MS);
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
    assert_true(tu_file_has(moved, "following 1 file"));
    fx_tail_check_seq(t, t->path, 20, 1, 3000);
}

static void tail_name_and_metrics(void **state)
{
    struct fx_tail *t = *state;
    char metrics[600], err[4096];
    snprintf(metrics, sizeof(metrics), "%s/m.prom", t->dir);
    assert_int_equal(tu_append_lines(t->path, 0, 0, 40, 10), 0);
    assert_int_equal(lbt_append_file(t->path, "nope\n\n", 6), 0);
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--once", "--name", "app", "--metrics-file",
                                 metrics, t->path, NULL),
                     0);
    fx_tail_check_seq(t, "app", 40, 1, 3000);
    assert_true(tu_ckpt_off(t->c, CK, "app", NULL) > 0);
    char *m = lbt_read_file(metrics, NULL);
    assert_non_null(m);
    assert_non_null(strstr(m, "logbridge_lines_total{src=\"app\",outcome=\"written\"} 40"));
    assert_non_null(strstr(m, "logbridge_lines_total{src=\"app\",outcome=\"bad\"} 1"));
    assert_non_null(strstr(m, "logbridge_lines_total{src=\"app\",outcome=\"blank\"} 1"));
    assert_non_null(strstr(m, "logbridge_lag_bytes{src=\"app\"} 0"));
    assert_non_null(strstr(m, "logbridge_bytes_read_total{src=\"app\"}"));
    assert_non_null(strstr(m, "logbridge_batch_seconds_count"));
    free(m);
}

/* Lines far longer than the small initial buffer (it grows), and one longer
 * than --max-line (DLQ, too_long), read while they are being written. */
static void tail_long_lines_grow_the_buffer(void **state)
{
    struct fx_tail *t = *state;
    size_t sizes[] = {10, 5000, 70000, 150000, 300000, 20};
    char *line = malloc(400000);
    assert_non_null(line);
    fx_tail_spawn(t, "--max-line", "200000", t->path, NULL);
    assert_int_equal(lbt_write_file(t->path, "", 0), 0);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        int n = snprintf(line, 400000, "app|2025-06-18T10:00:00.000Z|g0|%zu ", i);
        memset(line + n, 'x', sizes[i]);
        line[n + (int)sizes[i]] = '\n';
        /* in two writes: the first half waits in the buffer */
        size_t len = (size_t)n + sizes[i] + 1;
        assert_int_equal(lbt_append_file(t->path, line, len / 2), 0);
        assert_int_equal(lbt_append_file(t->path, line + len / 2, len - len / 2), 0);
    }
    fx_tail_wait_xlen(t, 5, WAIT_MS);
    struct stat st;
    stat(t->path, &st);
    assert_true(tu_wait_ckpt(t->c, CK, t->path, st.st_size, 20000));
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 5);
    struct lbt_entry *e;
    long ne = lbt_xrange_all(t->c, "s", &e);
    size_t want[] = {10, 5000, 70000, 150000, 20};
    for (long i = 0; i < ne; i++) {
        const char *d = lbt_field(&e[i], "data");
        size_t dl = 0;
        for (size_t k = 0; k < e[i].nf; k++)
            if (strcmp(e[i].names[k], "data") == 0)
                dl = e[i].vlens[k];
        assert_non_null(d);
        assert_int_equal(dl, strlen(d));
        assert_int_equal(strlen(strchr(d, ' ') + 1), want[i]);
    }
    lbt_entries_free(e, ne);
    ne = lbt_xrange_all(t->c, DLQ, &e);
    assert_int_equal(ne, 1);
    assert_string_equal(lbt_field(&e[0], "reason"), "too_long");
    assert_int_equal(strtol(lbt_field(&e[0], "raw_len"), NULL, 10),
                     (long)(strlen("app|2025-06-18T10:00:00.000Z|g0|4 ") + 300000));
    lbt_entries_free(e, ne);
    free(line);
}

static void tail_usage_errors(void **state)
{
    struct fx_tail *t = *state;
    char err[4096];
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--maxlen", "0", t->path, NULL), 2);
    assert_non_null(strstr(err, "--maxlen: expected a positive integer"));
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--from", "middle", t->path, NULL), 2);
    assert_non_null(strstr(err, "--from"));
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--rotate-wait", "-1", t->path, NULL), 2);
    assert_non_null(strstr(err, "--rotate-wait"));
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "--name", "x", t->path, t->path, NULL), 2);
    assert_non_null(strstr(err, "--name"));
    assert_int_equal(fx_tail_run(t, err, sizeof(err), "/tmp/*/x.log", NULL), 2);
    assert_non_null(strstr(err, "wildcards"));
    assert_int_equal(fx_tail_run(t, err, sizeof(err), NULL), 2);
    const char *nostream[] = {"tail", t->path, NULL};
    assert_int_equal(lbt_run(nostream, NULL, 0, err, sizeof(err), NULL, 0), 2);
    assert_non_null(strstr(err, "--stream"));
}

/* --allow-missing-dirs: a directory that does not exist yet is waited for;
 * when it appears its files are followed from their start (a literal path
 * and a glob), and one deleted and created again is waited for again. */
static void tail_waits_for_a_missing_directory(void **state)
{
    struct fx_tail *t = *state;
    char later[400], other[400], path[500], glob[500], x[500];
    snprintf(later, sizeof(later), "%s/later", t->dir);
    snprintf(other, sizeof(other), "%s/other", t->dir);
    snprintf(path, sizeof(path), "%s/app.log", later);
    snprintf(glob, sizeof(glob), "%s/*.log", other);
    snprintf(x, sizeof(x), "%s/x.log", other);
    fx_tail_spawn(t, "--allow-missing-dirs", path, glob, NULL);
    assert_true(tu_wait_log(t->log, "does not exist yet", WAIT_MS));
    assert_int_equal(mkdir(later, 0755), 0);
    assert_int_equal(tu_append_lines(path, 0, 0, 30, 10), 0);
    fx_tail_wait_xlen(t, 30, WAIT_MS);
    assert_int_equal(mkdir(other, 0755), 0);
    assert_int_equal(tu_append_lines(x, 0, 0, 20, 10), 0);
    fx_tail_wait_xlen(t, 50, WAIT_MS);
    /* gone, then back with a new file */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(later), 0);
    assert_true(tu_wait_log(t->log, "waiting for it to come back", WAIT_MS));
    assert_int_equal(mkdir(later, 0755), 0);
    assert_int_equal(tu_append_lines(path, 1, 30, 40, 10), 0);
    fx_tail_wait_xlen(t, 60, WAIT_MS);
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
    fx_tail_check_seq(t, path, 40, 1, 3000);
    fx_tail_check_seq(t, x, 20, 1, 3000);
}

/* Without it, a missing directory stops the job at once, naming the
 * directory and the option. */
static void tail_missing_directory_without_the_option_is_named(void **state)
{
    struct fx_tail *t = *state;
    char path[500], err[4096];
    snprintf(path, sizeof(path), "%s/nodir/app.log", t->dir);
    assert_int_equal(fx_tail_run(t, err, sizeof(err), path, NULL), 3);
    char want[700];
    snprintf(want, sizeof(want),
             "directory %s/nodir does not exist (create it, or let the job "
             "wait for it with --allow-missing-dirs)",
             t->dir);
    if (strstr(err, want) == NULL)
        fail_msg("stderr lacks '%s':\n%s", want, err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tail_once_reads_lines_and_holds_partial, fx_tail_setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_follows_appends_and_partial_completed_later,
                                        fx_tail_setup, fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_from_end_skips_existing_lines, fx_tail_setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_continues_after_import, fx_tail_setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_glob_gains_file, fx_tail_setup, fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_delete_and_create, fx_tail_setup, fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_rename_while_stopped, fx_tail_setup, fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_rotated_twice_while_stopped, fx_tail_setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_copytruncate_while_stopped, fx_tail_setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_rotated_and_compressed_while_stopped, fx_tail_setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_rotated_generation_gone_is_reported, fx_tail_setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_truncated_without_copy_counts_lost_bytes,
                                        fx_tail_setup, fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_sighup_reopens_log_and_sigterm_exits_0, fx_tail_setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_name_and_metrics, fx_tail_setup, fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_waits_for_a_missing_directory, fx_tail_setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_missing_directory_without_the_option_is_named,
                                        fx_tail_setup, fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_long_lines_grow_the_buffer, fx_tail_setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_usage_errors, fx_tail_setup, fx_tail_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
