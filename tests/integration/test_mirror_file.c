/*
 * test_mirror_file.c - `logbridge mirror`'s file and its checkpoint, against a
 * real redis-server: logrotate + SIGHUP, its own unrecorded lines after a
 * crash, a new generation continuing after the recorded ID, content kept
 * without a checkpoint, the fsync modes, a symlink refused, a damaged
 * checkpoint, exact checkpoint numbers. Another writer on the same file and
 * OOM are in test_mirror_writer.c, the kill -9 rounds in test_mirror_crash.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fx_mirror.h"
#include "lbt_prom.h"
#include "lbtest.h"

/* ---- tests ------------------------------------------------------------------------ */

static void mirror_rotation_rename_and_sighup(void **state)
{
    struct fx_mirror *f = *state;
    char rotated[450];
    snprintf(rotated, sizeof(rotated), "%s.1", f->file);
    mu_add_std(f->c, f->stream, 0, 100, "/a", 0);
    pid_t p = mu_spawn(f, "--stream", f->stream, "--file", f->file, NULL);
    size_t wn;
    char *want = mu_std_lines(0, 100, &wn);
    mu_wait_size(f->file, wn);
    free(want);
    /* logrotate: rename, then (later) postrotate sends SIGHUP. Entries that
     * arrive between the two still go to the renamed file. */
    assert_int_equal(rename(f->file, rotated), 0);
    mu_add_std(f->c, f->stream, 100, 50, "/a", 0);
    want = mu_std_lines(0, 150, &wn);
    mu_wait_size(rotated, wn);
    free(want);
    struct mu_ck_wait w = {f, ""};
    mu_last_id(f, w.want, sizeof(w.want));
    /* the checkpoint field is the path name F, whatever file is behind it */
    assert_true(lbt_wait_for(mu_ckpt_is, &w, FX_MIRROR_WAIT_MS));
    kill(p, SIGHUP);
    struct mu_file_wait fw = {f->file, 0};
    assert_true(lbt_wait_for(mu_file_has_size, &fw, FX_MIRROR_WAIT_MS));
    mu_add_std(f->c, f->stream, 150, 100, "/a", 0);
    want = mu_std_lines(150, 100, &wn);
    mu_wait_size(f->file, wn);
    mu_last_id(f, w.want, sizeof(w.want));
    assert_true(lbt_wait_for(mu_ckpt_is, &w, FX_MIRROR_WAIT_MS));
    kill(p, SIGTERM);
    assert_int_equal(mu_reap(f, p), 0);
    mu_assert_file_equals(f->file, want, wn);
    free(want);
    want = mu_std_lines(0, 150, &wn);
    mu_assert_file_equals(rotated, want, wn);
    free(want);
    mu_assert_ckpt(f, w.want); /* records the new file's dev/ino */
}

static void mirror_continues_after_its_unrecorded_lines(void **state)
{
    struct fx_mirror *f = *state;
    mu_add_std(f->c, f->stream, 0, 100, "/a", 0);
    char err[4096];
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    /* what a kill -9 between write and checkpoint leaves: its own lines past
     * the recorded size, the last one torn (another writer's lines are kept:
     * test_mirror_writer.c) */
    mu_add_std(f->c, f->stream, 100, 100, "/a", 0);
    size_t n;
    char *own = mu_std_lines(100, 20, &n);
    char torn[512];
    size_t tn = lbt_line(torn, sizeof(torn), 120);
    assert_int_equal(lbt_append_file(f->file, own, n), 0);
    assert_int_equal(lbt_append_file(f->file, torn, tn - 7), 0);
    free(own);
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    size_t wn;
    char *want = mu_std_lines(0, 200, &wn);
    mu_assert_file_equals(f->file, want, wn);
    free(want);
    assert_non_null(strstr(err, "21 lines after the checkpoint"));
    assert_non_null(strstr(err, "completed the line of entry"));
    assert_null(strstr(err, "another writer"));
}

static void mirror_new_generation_continues_after_id(void **state)
{
    struct fx_mirror *f = *state;
    char rotated[450];
    snprintf(rotated, sizeof(rotated), "%s.1", f->file);
    mu_add_std(f->c, f->stream, 0, 100, "/a", 0);
    char err[4096];
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    /* rotated while mirror was stopped (another inode at F) */
    assert_int_equal(rename(f->file, rotated), 0);
    const char *app = "app|2025-06-18T00:00:00Z|x|the app wrote this to the new file\n";
    assert_int_equal(lbt_write_file(f->file, app, strlen(app)), 0);
    mu_add_std(f->c, f->stream, 100, 50, "/a", 0);
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    assert_non_null(strstr(err, "new generation"));
    size_t wn;
    char *lines = mu_std_lines(100, 50, &wn);
    char *want = malloc(wn + strlen(app) + 1);
    memcpy(want, app, strlen(app));
    memcpy(want + strlen(app), lines, wn);
    mu_assert_file_equals(f->file, want, wn + strlen(app));
    free(want);
    free(lines);
    lines = mu_std_lines(0, 100, &wn);
    mu_assert_file_equals(rotated, lines, wn);
    free(lines);

    /* copytruncate: the same inode, shorter than recorded */
    assert_int_equal(truncate(f->file, 0), 0);
    mu_add_std(f->c, f->stream, 150, 20, "/a", 0);
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    assert_non_null(strstr(err, "new generation"));
    lines = mu_std_lines(150, 20, &wn);
    mu_assert_file_equals(f->file, lines, wn);
    free(lines);
    char id[64];
    mu_last_id(f, id, sizeof(id));
    mu_assert_ckpt(f, id);
}

static void mirror_keeps_existing_content_without_checkpoint(void **state)
{
    struct fx_mirror *f = *state;
    const char *app = "app|2025-06-18T00:00:00Z|x|already there\n";
    assert_int_equal(lbt_write_file(f->file, app, strlen(app)), 0);
    mu_add_std(f->c, f->stream, 0, 10, "/a", 0);
    char err[4096];
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    size_t wn;
    char *lines = mu_std_lines(0, 10, &wn);
    char *want = malloc(wn + strlen(app));
    memcpy(want, app, strlen(app));
    memcpy(want + strlen(app), lines, wn);
    mu_assert_file_equals(f->file, want, wn + strlen(app));
    free(want);
    free(lines);
}

static void mirror_fsync_modes_write_the_same(void **state)
{
    struct fx_mirror *f = *state;
    mu_add_std(f->c, f->stream, 0, 300, "/a", 0);
    size_t wn;
    char *want = mu_std_lines(0, 300, &wn);
    const char *modes[] = {"batch", "always", "never"};
    for (int i = 0; i < 3; i++) {
        char path[450], err[4096];
        snprintf(path, sizeof(path), "%s/%s.log", f->dir, modes[i]);
        assert_int_equal(mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", path,
                                "--fsync", modes[i], "--batch", "7", "--once", NULL),
                         0);
        mu_assert_file_equals(path, want, wn);
    }
    free(want);
}

static void mirror_refuses_a_symlink(void **state)
{
    struct fx_mirror *f = *state;
    char target[450];
    snprintf(target, sizeof(target), "%s/target.log", f->dir);
    assert_int_equal(lbt_write_file(target, "keep\n", 5), 0);
    assert_int_equal(symlink(target, f->file), 0);
    mu_add_std(f->c, f->stream, 0, 3, "/a", 0);
    char err[4096];
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 3);
    assert_non_null(strstr(err, "symbolic link"));
    mu_assert_file_equals(target, "keep\n", 5);
}

static void mirror_damaged_checkpoint_exits_3(void **state)
{
    struct fx_mirror *f = *state;
    mu_add_std(f->c, f->stream, 0, 10, "/a", 0);
    redisReply *r = redisCommand(f->c, "HSET %s %s %s", f->key, f->file, "{\"id\":\"oops\"}");
    freeReplyObject(r);
    char err[4096];
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 3);
    assert_non_null(strstr(err, "HDEL"));
    /* nothing was written on a guess */
    struct stat st;
    assert_true(stat(f->file, &st) != 0 || st.st_size == 0);
}

static void mirror_checkpoint_numbers_are_exact(void **state)
{
    struct fx_mirror *f = *state;
    /* a checkpoint for an inode number past 2^53 (XFS, btrfs can have them):
     * it differs from this file's by 1, which a double would not see */
    mu_add_std(f->c, f->stream, 0, 10, "/a", 0);
    char err[4096];
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    struct stat st;
    assert_int_equal(stat(f->file, &st), 0);
    char id[64], val[256];
    mu_last_id(f, id, sizeof(id));
    snprintf(val, sizeof(val), "{\"id\":\"%s\",\"size\":%lld,\"dev\":%llu,\"ino\":%llu}", id,
             (long long)st.st_size - 5, (unsigned long long)st.st_dev, 9007199254740993ULL);
    redisReply *r = redisCommand(f->c, "HSET %s %s %s", f->key, f->file, val);
    freeReplyObject(r);
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    assert_non_null(strstr(err, "ino=9007199254740993"));
    assert_non_null(strstr(err, "new generation"));
    size_t wn;
    char *want = mu_std_lines(0, 10, &wn);
    mu_assert_file_equals(f->file, want, wn); /* not cut back: another inode */
    free(want);
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(mirror_rotation_rename_and_sighup, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_continues_after_its_unrecorded_lines,
                                        fx_mirror_setup, fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_new_generation_continues_after_id, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_keeps_existing_content_without_checkpoint,
                                        fx_mirror_setup, fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_fsync_modes_write_the_same, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_refuses_a_symlink, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_damaged_checkpoint_exits_3, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_checkpoint_numbers_are_exact, fx_mirror_setup,
                                        fx_mirror_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
