/*
 * test_tail_scale.c - `logbridge tail` with many files: an idle job uses no
 * CPU (no polling: 200 quiet files, the process's utime+stime must not grow
 * over a few seconds), and 1,000 files followed by one process all arrive
 * (through a glob; the machine's inotify limits are raised when we are root,
 * else the test is skipped with the reason).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cmocka.h>

#include "lbtest.h"
#include "fx_tail.h"
#include "tail_util.h"

static void make_files(struct fx_tail *t, int n, long from, long to)
{
    for (int i = 0; i < n; i++) {
        char p[600];
        snprintf(p, sizeof(p), "%s/f%04d.log", t->dir, i);
        assert_int_equal(tu_append_lines(p, 0, from, to, 10), 0);
    }
}

static void spawn_glob(struct fx_tail *t)
{
    char pat[600];
    snprintf(pat, sizeof(pat), "%s/*.log", t->dir);
    fx_tail_spawn(t, pat, NULL);
}

#define WAIT_MS 60000

static void tail_idle_uses_no_cpu(void **state)
{
    struct fx_tail *t = *state;
    make_files(t, 200, 0, 5);
    spawn_glob(t);
    fx_tail_wait_xlen(t, 1000, WAIT_MS);
    long long before = tu_cpu_ticks(t->pid);
    assert_true(before >= 0);
    /* a measuring window, not a wait for a result */
    lbt_sleep_ms(3000);
    long long after = tu_cpu_ticks(t->pid);
    printf("idle with 200 files: %lld clock ticks of CPU in 3 s\n", after - before);
    assert_true(after - before <= 1);
    /* and it still reacts */
    char p[600];
    snprintf(p, sizeof(p), "%s/f0100.log", t->dir);
    assert_int_equal(tu_append_lines(p, 0, 5, 6, 10), 0);
    fx_tail_wait_xlen(t, 1001, WAIT_MS);
    kill(t->pid, SIGTERM);
    assert_int_equal(lbt_wait(t->pid), 0);
    t->pid = 0;
}

static long read_proc_long(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f != NULL) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static int write_proc_long(const char *path, long v)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    int ok = fprintf(f, "%ld\n", v) > 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void tail_thousand_files(void **state)
{
    struct fx_tail *t = *state;
    const int n = 1000;
    const char *wpath = "/proc/sys/fs/inotify/max_user_watches";
    long watches = read_proc_long(wpath);
    /* other processes of this user hold watches too: leave room */
    if (watches >= 0 && watches < n + 10000) {
        if (geteuid() != 0 || write_proc_long(wpath, n + 10000) != 0) {
            char why[200];
            snprintf(why, sizeof(why),
                     "%s is %ld, below the %d this test needs, and cannot be "
                     "raised (not root)",
                     wpath, watches, n + 10000);
            printf("skip: %s\n", why);
            skip();
        }
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
        rl.rlim_max < (rlim_t)n + 64) {
        printf("skip: the hard open files limit (%llu) is below %d\n",
               (unsigned long long)rl.rlim_max, n + 64);
        skip();
    }
    make_files(t, n, 0, 3);
    spawn_glob(t);
    fx_tail_wait_xlen(t, 3L * n, WAIT_MS);
    make_files(t, n, 3, 5);
    fx_tail_wait_xlen(t, 5L * n, WAIT_MS);
    printf("1000 files followed: VmRSS %ld KiB\n", tu_rss_kib(t->pid));
    kill(t->pid, SIGTERM);
    assert_int_equal(lbt_wait(t->pid), 0);
    t->pid = 0;
    assert_int_equal(lbt_xlen(t->c, "s"), 5L * n);
    /* every file's lines, once each, in order: one scan of the stream */
    struct lbt_entry *e;
    long ne = lbt_xrange_all(t->c, "s", &e);
    assert_int_equal(ne, 5L * n);
    int *count = calloc((size_t)n, sizeof(int));
    long *last = calloc((size_t)n, sizeof(long));
    for (int i = 0; i < n; i++)
        last[i] = -1;
    for (long k = 0; k < ne; k++) {
        const char *src = lbt_field(&e[k], "src");
        assert_non_null(src);
        const char *f = strrchr(src, '/');
        assert_non_null(f);
        int i = atoi(f + 2);
        assert_true(i >= 0 && i < n);
        long seq = strtol(lbt_field(&e[k], "data"), NULL, 10);
        assert_int_equal(seq, last[i] + 1);
        last[i] = seq;
        count[i]++;
    }
    for (int i = 0; i < n; i++)
        assert_int_equal(count[i], 5);
    free(count);
    free(last);
    lbt_entries_free(e, ne);
}

/* logbridge in a child whose open files limit is nofile (soft and hard). */
static int run_limited(const char *const *args, rlim_t nofile, const char *ep, char *err,
                       size_t cap)
{
    pid_t p = fork();
    if (p == 0) {
        struct rlimit rl = {nofile, nofile};
        setrlimit(RLIMIT_NOFILE, &rl);
        int fd = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0)
            dup2(fd, 2);
        const char *argv[16];
        argv[0] = lbt_bin();
        for (int i = 0; args[i] != NULL && i < 14; i++)
            argv[i + 1] = args[i], argv[i + 2] = NULL;
        execv(lbt_bin(), (char *const *)argv);
        _exit(127);
    }
    int rc = lbt_wait(p);
    char *s = lbt_read_file(ep, NULL);
    snprintf(err, cap, "%s", s ? s : "");
    free(s);
    unlink(ep);
    return rc;
}

static void tail_names_the_open_files_limit(void **state)
{
    struct fx_tail *t = *state;
    make_files(t, 100, 0, 1);
    char pat[600], err[4096];
    snprintf(pat, sizeof(pat), "%s/*.log", t->dir);
    const char *args[] = {"tail", "--redis", t->r.url, "--stream", "s", pat, NULL};
    char ep[600];
    snprintf(ep, sizeof(ep), "%s/limited.err", t->dir);
    int rc = run_limited(args, 40, ep, err, sizeof(err));
    if (rc != 3)
        fail_msg("exit %d, expected 3; stderr:\n%s", rc, err);
    assert_non_null(strstr(err, "RLIMIT_NOFILE"));
    assert_int_equal(tu_text_sane(err), 0);
}

/* Holds every inotify instance user `nobody` may have, until killed. */
static int hog_instances(void *ctx)
{
    int ready = *(int *)ctx;
    if (setgid(65534) != 0 || setuid(65534) != 0)
        return 1;
    int n = 0;
    while (inotify_init1(IN_CLOEXEC) >= 0 && n < 100000)
        n++;
    char c = 'x';
    if (write(ready, &c, 1) != 1)
        return 2;
    pause();
    return 0;
}

static void tail_names_the_inotify_instances_limit(void **state)
{
    struct fx_tail *t = *state;
    if (geteuid() != 0) {
        printf("skip: needs root, to run logbridge as another user whose inotify instances it "
               "can use up without touching anyone else's\n");
        skip();
    }
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t hog = tu_fork(hog_instances, &pfd[1]);
    char c;
    assert_int_equal(read(pfd[0], &c, 1), 1);
    close(pfd[0]);
    close(pfd[1]);
    char path[600], ep[600];
    snprintf(path, sizeof(path), "%s/a.log", t->dir);
    snprintf(ep, sizeof(ep), "%s/limited.err", t->dir);
    make_files(t, 1, 0, 1);
    int efd = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(efd >= 0);
    pid_t p = fork();
    if (p == 0) {
        dup2(efd, 2);
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(126);
        execl(lbt_bin(), lbt_bin(), "tail", "--redis", t->r.url, "--stream", "s", path,
              (char *)NULL);
        _exit(127);
    }
    int rc = lbt_wait(p);
    close(efd);
    kill(hog, SIGKILL);
    lbt_wait(hog);
    char *err = lbt_read_file(ep, NULL);
    assert_non_null(err);
    if (rc != 3 || strstr(err, "/proc/sys/fs/inotify/max_user_instances") == NULL)
        fail_msg("exit %d; stderr:\n%s", rc, err);
    assert_int_equal(tu_text_sane(err), 0);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tail_idle_uses_no_cpu, fx_tail_setup, fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_thousand_files, fx_tail_setup, fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_names_the_open_files_limit, fx_tail_setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_names_the_inotify_instances_limit, fx_tail_setup,
                                        fx_tail_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
