/*
 * test_demo.c - `sh contrib/demo.sh` (what `make demo` runs) works: exit 0,
 * the narrative's key lines, well under 30 s, and nothing left behind (its
 * redis-server is gone, its temp dir removed). And a demo whose step fails
 * exits non-zero and still cleans up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lbtest.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEMO_DEADLINE_MS 60000

struct demo {
    int rc;
    int64_t ms;
    char *out;
};

/* cmocka cuts long messages: the whole output goes to stderr first, and the
 * message keeps its end, which says what failed */
static const char *tail_of(const char *out)
{
    fprintf(stderr, "---- demo output ----\n%s\n---- end of demo output ----\n", out);
    size_t n = strlen(out);
    return n > 600 ? out + n - 600 : out;
}

/* Run the demo with LOGBRIDGE_BIN = bin (NULL: as inherited). */
static void run_demo(const char *bin, struct demo *d)
{
    char dir[256], path[320];
    assert_int_equal(lbt_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/demo.out", dir);
    int64_t t0 = lbt_now_ms();
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        setpgid(0, 0); /* one group: a timeout kills the demo's children too */
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int in = open("/dev/null", O_RDONLY);
        if (fd < 0 || in < 0)
            _exit(126);
        dup2(in, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (bin != NULL)
            setenv("LOGBRIDGE_BIN", bin, 1);
        execlp("sh", "sh", "contrib/demo.sh", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    for (;;) {
        pid_t w = waitpid(p, &st, WNOHANG);
        if (w == p)
            break;
        if (lbt_now_ms() - t0 > DEMO_DEADLINE_MS) {
            kill(-p, SIGKILL);
            waitpid(p, &st, 0);
            char *out = lbt_read_file(path, NULL);
            fail_msg("the demo ran over %d s:\n...%s", DEMO_DEADLINE_MS / 1000,
                     out ? tail_of(out) : "");
        }
        lbt_sleep_ms(20);
    }
    d->ms = lbt_now_ms() - t0;
    d->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    d->out = lbt_read_file(path, NULL);
    assert_non_null(d->out);
    lbt_rmdir(dir);
}

/* The redis-server pid and temp dir the demo announced, both gone now. */
static void check_cleaned_up(const char *out)
{
    const char *p = strstr(out, "redis-server pid ");
    assert_non_null(p);
    long pid = strtol(p + 17, NULL, 10);
    assert_true(pid > 1);
    /* the demo waited for its server: no such process (or not ours any more) */
    errno = 0;
    int alive = kill((pid_t)pid, 0) == 0;
    if (alive) {
        char exe[64], link[256] = "";
        snprintf(exe, sizeof(exe), "/proc/%ld/exe", pid);
        ssize_t n = readlink(exe, link, sizeof(link) - 1);
        link[n > 0 ? n : 0] = '\0';
        if (strstr(link, "redis") != NULL)
            fail_msg("the demo's redis-server (pid %ld) is still running", pid);
    }
    const char *on = strstr(p, " on ");
    assert_non_null(on);
    char sock[512];
    assert_int_equal(sscanf(on + 4, "%511s", sock), 1);
    char *slash = strrchr(sock, '/');
    assert_non_null(slash);
    *slash = '\0';
    struct stat st;
    if (stat(sock, &st) == 0)
        fail_msg("the demo's temp dir %s is still there", sock);
}

static void demo_runs_the_whole_story(void **state)
{
    (void)state;
    struct demo d;
    run_demo(NULL, &d);
    if (d.rc != 0)
        fail_msg("the demo exited %d:\n...%s", d.rc, tail_of(d.out));
    static const char *const want[] = {
        "== 0. A throwaway Redis",
        "(already imported)",
        "config OK: 1 tail, 1 mirror jobs",
        "== 4. Both worlds write",
        "order_placed",
        "zero lag",
        "logbridge:dlq:",
        "logbridge run exited 0",
        "logbridge_lines_total",
        "demo OK",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (strstr(d.out, want[i]) == NULL)
            fail_msg("the demo's output lacks '%s':\n...%s", want[i], tail_of(d.out));
    /* the narrative is in order: the steps 0..7 */
    const char *at = d.out;
    for (int s = 0; s <= 7; s++) {
        char h[32];
        snprintf(h, sizeof(h), "== %d. ", s);
        const char *n = strstr(at, h);
        if (n == NULL)
            fail_msg("step %d missing or out of order:\n...%s", s, tail_of(d.out));
        at = n;
    }
    if (d.ms > 30000)
        fail_msg("the demo took %lld ms (the promise is < 30 s)", (long long)d.ms);
    check_cleaned_up(d.out);
    free(d.out);
}

static void demo_fails_loudly_and_cleans_up(void **state)
{
    (void)state;
    /* a "logbridge" that fails every command: the first step that uses it
     * must stop the demo with a non-zero status */
    struct demo d;
    run_demo("/bin/false", &d);
    if (d.rc == 0)
        fail_msg("the demo exited 0 with a failing logbridge:\n...%s", tail_of(d.out));
    assert_null(strstr(d.out, "demo OK"));
    check_cleaned_up(d.out);
    free(d.out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(demo_runs_the_whole_story),
        cmocka_unit_test(demo_fails_loudly_and_cleans_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
