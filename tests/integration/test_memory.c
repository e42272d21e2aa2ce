/*
 * test_memory.c - guarantee 4.7, bounded memory, asserted: the peak resident
 * memory of the logbridge process (ru_maxrss from wait4, which is its own
 * high-water mark after exec) stays under a bound derived from what the
 * design lets it hold, never from a measurement:
 *
 *   import of 1M lines         16 MiB: one read buffer and one feed buffer
 *                              of --max-line + 256 KiB (1 MiB default line
 *                              limit: 2.5 MiB), two batches of 1000 lines in
 *                              flight, hiredis buffers, and the binary with
 *                              its libraries (libc, hiredis, cJSON, zlib).
 *   tail of 1,000 files        16 MiB + 8 KiB per file: a 4 KiB starting
 *                              buffer, its route and source state.
 *   mirror of a 1M backlog     16 MiB: one page of 1000 entries at a time.
 *   mirror of 1,000 streams    16 MiB + 128 KiB per stream: a merge holds
 *                              two pages of 16 entries per stream (the one
 *                              being merged and the next), each in a read
 *                              buffer sized to the page (half of it a gap
 *                              that is never touched) and a reply tree of
 *                              three times the page's bytes: 2 x (32 + 24)
 *                              KiB, and slack.
 *   parity of 1M lines         64 MiB for --order any: a multiset of 12-byte
 *                              slots per distinct entry (12 MB for 1M), its
 *                              hash table's slack, one page of entries.
 *
 * None of these is a timing test: data is generated with buffered writes
 * and one import; only XLEN and exit codes are checked besides memory.
 * ru_maxrss also counts the test process's own resident pages at fork (the
 * child's pre-exec image), so the test keeps itself small: fixtures are
 * streamed to disk, never held.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "import_util.h"
#include "lbtest.h"
#include "tail_util.h"

#define MIB (1024L * 1024L)
#define LINES 1000000L

struct group {
    struct lbt_redis r;
    redisContext *c;
    char dir[256];
    char big[512]; /* LINES standard lines */
};

static int group_setup(void **state)
{
    struct group *g = calloc(1, sizeof(*g));
    if (g == NULL || lbt_redis_start(&g->r, 0) != 0 || (g->c = lbt_connect(&g->r)) == NULL ||
        lbt_mkdtemp(g->dir, sizeof(g->dir)) != 0)
        return -1;
    snprintf(g->big, sizeof(g->big), "%s/big.log", g->dir);
    FILE *f = fopen(g->big, "w");
    if (f == NULL)
        return -1;
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    char line[256];
    for (long i = 0; i < LINES; i++) {
        size_t n = lbt_line(line, sizeof(line), i);
        if (fwrite(line, 1, n, f) != n)
            return -1;
    }
    if (fclose(f) != 0)
        return -1;
    *state = g;
    return 0;
}

static int group_teardown(void **state)
{
    struct group *g = *state;
    if (g->c)
        redisFree(g->c);
    lbt_redis_stop(&g->r, 1);
    lbt_rmdir(g->dir);
    free(g);
    return 0;
}

/* Run logbridge with args, output to log; returns the exit code and the
 * peak resident memory in KiB (*maxrss_kib). */
static int run_measured(const char *const *args, const char *log, long *maxrss_kib)
{
    pid_t pid = lbt_spawn(args, log);
    assert_true(pid > 0);
    int st;
    struct rusage ru;
    pid_t w;
    while ((w = wait4(pid, &st, 0, &ru)) < 0)
        ;
    assert_int_equal(w, pid);
    *maxrss_kib = ru.ru_maxrss;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The binaries of `make check` carry AddressSanitizer's shadow memory and
 * quarantine (hundreds of MiB): the bounds are those of the real build. */
static int lb_sanitized(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return 1;
#else
    return 0;
#endif
}

static void expect_within(const char *what, long kib, long bound_bytes, const char *log)
{
    print_message("%s: peak RSS %ld KiB (bound %ld KiB)\n", what, kib, bound_bytes / 1024);
    if (lb_sanitized()) {
        print_message("%s: built with AddressSanitizer, whose shadow memory is in the RSS: the "
                      "bound is checked by `make test`\n",
                      what);
        skip();
    }
    if (kib <= 0 || kib * 1024 > bound_bytes) {
        tu_dump(log, 2000);
        fail_msg("%s: peak RSS %ld KiB is over the bound of %ld KiB", what, kib,
                 bound_bytes / 1024);
    }
}

static void log_path(const struct group *g, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s.out", g->dir, name);
}

/* The big file in stream "m" (imported once, by the test that measures it
 * or by the first test that needs it). */
static void import_big(struct group *g, long *kib)
{
    char log[600];
    log_path(g, "import", log, sizeof(log));
    const char *args[] = {"import", "--redis", g->r.url, "--stream", "m", "--no-progress",
                          g->big,   NULL};
    long k = 0;
    int rc = run_measured(args, log, &k);
    if (rc != 0) {
        tu_dump(log, 2000);
        fail_msg("import exited %d", rc);
    }
    assert_int_equal(lbt_xlen(g->c, "m"), LINES);
    if (kib != NULL)
        *kib = k;
}

static void need_big_stream(struct group *g)
{
    if (lbt_xlen(g->c, "m") != LINES) {
        assert_int_equal(iu_cmd(g->c, "DEL", "m", "logbridge:ckpt:{m}", NULL), 0);
        import_big(g, NULL);
    }
}

static void memory_import_of_1m_lines_is_bounded(void **state)
{
    struct group *g = *state;
    assert_int_equal(iu_cmd(g->c, "DEL", "m", "logbridge:ckpt:{m}", NULL), 0);
    long kib = 0;
    import_big(g, &kib);
    char log[600];
    log_path(g, "import", log, sizeof(log));
    expect_within("import of 1M lines", kib, 16 * MIB, log);
}

static void memory_tail_of_1000_files_is_bounded(void **state)
{
    struct group *g = *state;
    const int n = 1000;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
        rl.rlim_cur = rl.rlim_max;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)n + 64) {
            print_message("skipped: the hard open files limit (%llu) is below %d\n",
                          (unsigned long long)rl.rlim_max, n + 64);
            skip();
        }
        setrlimit(RLIMIT_NOFILE, &rl); /* inherited by logbridge */
    }
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/many", g->dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    for (int i = 0; i < n; i++) {
        char p[700], text[1024];
        size_t len = 0;
        snprintf(p, sizeof(p), "%s/f%04d.log", dir, i);
        for (long k = 0; k < 5; k++)
            len += lbt_line(text + len, sizeof(text) - len, (long)i * 5 + k);
        assert_int_equal(lbt_write_file(p, text, len), 0);
    }
    char pattern[700], log[600];
    snprintf(pattern, sizeof(pattern), "%s/*.log", dir);
    log_path(g, "tail", log, sizeof(log));
    const char *args[] = {"tail", "--redis", g->r.url, "--stream", "t", "--once", pattern, NULL};
    long kib = 0;
    int rc = run_measured(args, log, &kib);
    if (rc != 0) {
        tu_dump(log, 2000);
        fail_msg("tail exited %d", rc);
    }
    assert_int_equal(lbt_xlen(g->c, "t"), 5L * n);
    expect_within("tail of 1000 files", kib, 16 * MIB + n * 8L * 1024, log);
}

static void memory_mirror_of_a_1m_backlog_is_bounded(void **state)
{
    struct group *g = *state;
    need_big_stream(g);
    char file[600], log[600];
    snprintf(file, sizeof(file), "%s/mirror.log", g->dir);
    log_path(g, "mirror", log, sizeof(log));
    const char *args[] = {"mirror", "--redis", g->r.url, "--stream", "m", "--file",
                          file,     "--fsync", "never",   "--once",   NULL};
    long kib = 0;
    int rc = run_measured(args, log, &kib);
    if (rc != 0) {
        tu_dump(log, 2000);
        fail_msg("mirror exited %d", rc);
    }
    struct stat sb, sa;
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal(stat(g->big, &sa), 0);
    assert_int_equal(sb.st_size, sa.st_size); /* every entry, as the line it came from */
    unlink(file);
    expect_within("mirror of a 1M-entry backlog", kib, 16 * MIB, log);
}

#define MANY_STREAMS 1000
#define MANY_LINES 100000L

/* 100 entries in each of 1000 type streams, merged back into one file
 * (before: every stream's reader had 1 MiB read buffers and 256 KiB blocks,
 * about 400 KiB of them resident: 400 MiB for a thousand streams). */
static void memory_mirror_of_1000_streams_is_bounded(void **state)
{
    struct group *g = *state;
    char src[600], file[600], log[600];
    snprintf(src, sizeof(src), "%s/many.log", g->dir);
    snprintf(file, sizeof(file), "%s/many-mirror.log", g->dir);
    FILE *f = fopen(src, "w");
    assert_non_null(f);
    for (long i = 0; i < MANY_LINES; i++)
        fprintf(f, "web|2025-06-18T10:%02ld:%02ld.%03ldZ|t%ld|data-%ld k=v\n", i / 60000 % 60,
                i / 1000 % 60, i % 1000, i % MANY_STREAMS, i);
    assert_int_equal(fclose(f), 0);
    log_path(g, "many-import", log, sizeof(log));
    const char *imp[] = {"import", "--redis", g->r.url, "--stream", "{ms}:%{type}", "--no-progress",
                         src,      NULL};
    long kib = 0;
    if (run_measured(imp, log, &kib) != 0) {
        tu_dump(log, 2000);
        fail_msg("import through the template failed");
    }
    assert_int_equal(lbt_xlen(g->c, "{ms}:t999"), MANY_LINES / MANY_STREAMS);
    log_path(g, "many-mirror", log, sizeof(log));
    const char *args[] = {"mirror", "--redis", g->r.url, "--stream", "{ms}:%{type}", "--file",
                          file,     "--fsync", "never",   "--once",   NULL};
    int rc = run_measured(args, log, &kib);
    if (rc != 0) {
        tu_dump(log, 2000);
        fail_msg("mirror exited %d", rc);
    }
    size_t na, nb;
    char *a = lbt_read_file(src, &na), *b = lbt_read_file(file, &nb);
    assert_non_null(a);
    assert_non_null(b);
    int same = na == nb && memcmp(a, b, na) == 0; /* every entry, in the file's order */
    free(a);
    free(b);
    assert_true(same);
    unlink(file);
    expect_within("mirror of 1000 streams", kib, 16 * MIB + MANY_STREAMS * 128L * 1024, log);
}

static void memory_parity_of_1m_lines_is_bounded(void **state)
{
    struct group *g = *state;
    need_big_stream(g);
    char log[600];
    log_path(g, "parity", log, sizeof(log));
    const char *args[] = {"parity", "--redis", g->r.url, "--stream", "m", "--order",
                          "any",    "--report", "json",  g->big,     NULL};
    long kib = 0;
    int rc = run_measured(args, log, &kib);
    if (rc != 0) {
        tu_dump(log, 2000);
        fail_msg("parity exited %d (want 0: the stream equals the file)", rc);
    }
    expect_within("parity --order any of 1M lines", kib, 64 * MIB, log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(memory_import_of_1m_lines_is_bounded),
        cmocka_unit_test(memory_tail_of_1000_files_is_bounded),
        cmocka_unit_test(memory_mirror_of_a_1m_backlog_is_bounded),
        cmocka_unit_test(memory_parity_of_1m_lines_is_bounded),
        cmocka_unit_test(memory_mirror_of_1000_streams_is_bounded),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
