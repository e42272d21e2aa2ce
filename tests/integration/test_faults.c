/*
 * test_faults.c - failures that a real system gives rarely and a test must
 * force: fstat failing, inflate failing to start, an allocation failing while a reply
 * page is parsed (issue 9 item 10), and I/O errors that must name the path
 * (item 9: `import DIR` said "read: Is a directory" and no path).
 *
 * The forced failures interpose fstat, inflateInit2_ and realloc in this test
 * binary (its own definitions win over libc's and zlib's for the logbridge
 * objects linked into it) and call the commands in-process; each passes
 * through to the real function unless a test arms it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lbtest.h"

#include "checkpoint.h"
#include "jobs.h"
#include "source.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---- interposed functions ------------------------------------------------------ */

static const char *fstat_fails_for; /* a path: fstat of an fd open on it fails with EIO */
static int inflate_init_fails;
static size_t realloc_fails_at;  /* a size: realloc of exactly this many bytes fails */
static size_t malloc_fails_from; /* a size: malloc of at least this many bytes fails */

int fstat(int fd, struct stat *st)
{
    static int (*real)(int, struct stat *);
    if (real == NULL)
        real = (int (*)(int, struct stat *))dlsym(RTLD_NEXT, "fstat");
    if (fstat_fails_for != NULL) {
        char link[64], target[4096];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = '\0';
            if (strcmp(target, fstat_fails_for) == 0) {
                /* what an uninitialised struct may hold: a caller that reads
                 * it after a failure sees a directory */
                memset(st, 0xff, sizeof(*st));
                errno = EIO;
                return -1;
            }
        }
    }
    return real(fd, st);
}

/* what zlib's inflateInit2() macro calls */
int inflateInit2_(z_streamp strm, int window_bits, const char *version, int stream_size)
{
    static int (*real)(z_streamp, int, const char *, int);
    if (real == NULL)
        real = (int (*)(z_streamp, int, const char *, int))dlsym(RTLD_NEXT, "inflateInit2_");
    if (inflate_init_fails)
        return Z_MEM_ERROR; /* as zlib on a failed allocation */
    return real(strm, window_bits, version, stream_size);
}

void *realloc(void *p, size_t n)
{
    static void *(*real)(void *, size_t);
    if (real == NULL)
        real = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    if (realloc_fails_at != 0 && n == realloc_fails_at) {
        errno = ENOMEM;
        return NULL;
    }
    return real(p, n);
}

/* Under AddressSanitizer (make check) malloc is ASan's own and cannot be
 * interposed here (glibc's blocks would reach ASan's free): the one test
 * that needs it says so and skips; `make test` runs it. */
#if defined(__SANITIZE_ADDRESS__)
#define LB_MALLOC_FAULTS 0
#else
#define LB_MALLOC_FAULTS 1
/* glibc's own, so that no dlsym (which may allocate) is needed here */
extern void *__libc_malloc(size_t n);

void *malloc(size_t n)
{
    if (malloc_fails_from != 0 && n >= malloc_fails_from) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_malloc(n);
}
#endif

/* ---- fixture ------------------------------------------------------------------- */

struct fx {
    struct lbt_redis r;
    redisContext *c;
    char dir[256];
    char log[320], gz[320], out[320];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL || lbt_mkdtemp(f->dir, sizeof(f->dir)) != 0 || lbt_redis_start(&f->r, 0) != 0)
        return -1;
    if ((f->c = lbt_connect(&f->r)) == NULL)
        return -1;
    snprintf(f->log, sizeof(f->log), "%s/app.log", f->dir);
    snprintf(f->gz, sizeof(f->gz), "%s/app.log.1.gz", f->dir);
    snprintf(f->out, sizeof(f->out), "%s/lb.out", f->dir);
    char buf[64 * 1024];
    size_t n = 0;
    for (long i = 0; i < 300; i++)
        n += lbt_line(buf + n, sizeof(buf) - n, i);
    if (lbt_write_file(f->log, buf, n) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fstat_fails_for = NULL;
    inflate_init_fails = 0;
    realloc_fails_at = 0;
    malloc_fails_from = 0;
    if (f->c != NULL)
        redisFree(f->c);
    lbt_redis_stop(&f->r, 1);
    lbt_rmdir(f->dir);
    free(f);
    return 0;
}

static char out[65536], err[65536];

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    if (d != NULL)
        closedir(d);
    return n;
}

/* Run lb_cmd_parity in-process (the interposed functions apply), logging to
 * f->out; returns the exit code and the log in out. */
static int parity_inproc(struct fx *f, const char *file)
{
    unlink(f->out);
    char a0[] = "parity", a1[] = "--stream", a2[] = "S", a3[] = "--redis", a5[] = "--log-file";
    char a4[400], a6[400], a7[400];
    snprintf(a4, sizeof(a4), "%s", f->r.url);
    snprintf(a6, sizeof(a6), "%s", f->out);
    snprintf(a7, sizeof(a7), "%s", file);
    char *argv[] = {a0, a1, a2, a3, a4, a5, a6, a7, NULL};
    int rc = lb_cmd_parity(8, argv);
    char *text = lbt_read_file(f->out, NULL);
    snprintf(out, sizeof(out), "%s", text != NULL ? text : "");
    free(text);
    return rc;
}

/* ---- tests ----------------------------------------------------------------------- */

/* parity.c: st was read after a failed fstat, and errno after close(). */
static void parity_fstat_failure_is_reported_as_such(void **state)
{
    struct fx *f = *state;
    fstat_fails_for = f->log;
    int rc = parity_inproc(f, f->log);
    fstat_fails_for = NULL;
    assert_int_equal(rc, 3);
    char want[512];
    snprintf(want, sizeof(want), "%s: fstat: %s", f->log, strerror(EIO));
    if (strstr(out, want) == NULL)
        fail_msg("the log lacks '%s':\n%s", want, out);
}

/* source.c: a gzip input whose inflate cannot start (out of memory) is an
 * error that names the path and leaks no fd. (It was a failed gzdopen of
 * stdin's dup; source.c inflates by itself now, for files and stdin alike.) */
static void source_gzip_that_cannot_start_leaks_no_fd(void **state)
{
    struct fx *f = *state;
    gzFile z = gzopen(f->gz, "wb");
    assert_non_null(z);
    assert_int_equal(gzwrite(z, "one\ntwo\n", 8), 8);
    assert_int_equal(gzclose(z), Z_OK);
    int before = count_fds();
    inflate_init_fails = 1;
    struct lb_error e = {0};
    struct lb_source *s = lb_source_open(f->gz, 4096, &e);
    inflate_init_fails = 0;
    assert_null(s);
    assert_int_equal(e.code, LB_ENOMEM);
    if (strstr(e.msg, f->gz) == NULL)
        fail_msg("'%s' does not name %s", e.msg, f->gz);
    assert_int_equal(count_fds(), before);
    /* and without the fault the same file reads */
    s = lb_source_open(f->gz, 4096, &e);
    assert_non_null(s);
    assert_int_equal(lb_source_kind(s), LB_SOURCE_GZ);
    assert_int_equal(lb_source_fill(s, &e), 8);
    lb_source_close(s);
    assert_int_equal(count_fds(), before);
}

/* A failed allocation while a page of XRANGE is parsed is out of memory, not
 * an unreadable reply (which reads as Redis's fault). */
static void parity_out_of_memory_in_a_page_is_reported_as_such(void **state)
{
    struct fx *f = *state;
    if (!LB_MALLOC_FAULTS) {
        print_message("built with AddressSanitizer: malloc cannot be made to fail here; "
                      "`make test` runs this test\n");
        skip();
    }
    const char *args[] = {"import", "--redis", f->r.url, "--stream", "S", f->log, NULL};
    assert_int_equal(lbt_run(args, out, sizeof(out), err, sizeof(err), NULL, 0), 0);
    assert_int_equal(lbt_xlen(f->c, "S"), 300);
    /* the first block of the reply arena that a page of XRANGE is read into
     * (256 KiB, reply.c lb_arena_grow): nothing else parity allocates before
     * it is that large */
    malloc_fails_from = 256 * 1024;
    int rc = parity_inproc(f, f->log);
    malloc_fails_from = 0;
    assert_int_equal(rc, 3);
    if (strstr(out, "out of memory while reading a page of XRANGE") == NULL ||
        strstr(out, "unreadable") != NULL)
        fail_msg("not reported as out of memory:\n%s", out);
    /* and without the fault the same run is equal */
    assert_int_equal(parity_inproc(f, f->log), 0);
}

/* Every I/O error of an input names its path. */
static void source_import_of_a_directory_names_the_path(void **state)
{
    struct fx *f = *state;
    const char *args[] = {"import", "--redis", f->r.url, "--stream", "S", f->dir, NULL};
    int rc = lbt_run(args, out, sizeof(out), err, sizeof(err), NULL, 0);
    assert_int_equal(rc, 3);
    char want[400];
    snprintf(want, sizeof(want), "%s: is a directory", f->dir);
    if (strstr(err, want) == NULL)
        fail_msg("stderr lacks '%s':\n%s", want, err);
    assert_int_equal(lbt_xlen(f->c, "S"), 0);
}

static void source_import_of_a_corrupt_gz_names_the_path(void **state)
{
    struct fx *f = *state;
    /* a gzip header, then bytes that are no deflate stream */
    static const unsigned char bad[] = {0x1f, 0x8b, 0x08, 0x00, 0,    0,    0,    0,    0x00,
                                        0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(lbt_write_file(f->gz, bad, sizeof(bad)), 0);
    const char *args[] = {"import", "--redis", f->r.url, "--stream", "S", f->gz, NULL};
    int rc = lbt_run(args, out, sizeof(out), err, sizeof(err), NULL, 0);
    assert_int_equal(rc, 3);
    char want[400];
    snprintf(want, sizeof(want), "%s: gzip: ", f->gz);
    if (strstr(err, want) == NULL)
        fail_msg("stderr lacks '%s':\n%s", want, err);
}

/* checkpoint.c: a 20-digit value past 2^64-1 wrapped silently. */
static void checkpoint_refuses_a_value_that_would_wrap(void **state)
{
    (void)state;
    struct lb_ckpt ck;
    const char *ok = "{\"dev\":1,\"ino\":18446744073709551615,\"fp\":\"00\",\"off\":3,"
                     "\"line\":1,\"id\":\"1-1\"}";
    assert_int_equal(lb_ckpt_parse(ok, strlen(ok), &ck, NULL), 0);
    assert_true(ck.ino == 18446744073709551615ULL);
    static const char *const bad[] = {
        "{\"dev\":1,\"ino\":18446744073709551616,\"fp\":\"00\",\"off\":3,\"line\":1}",
        "{\"dev\":1,\"ino\":2,\"fp\":\"00\",\"off\":99999999999999999999,\"line\":1}",
        "{\"dev\":1,\"ino\":2,\"fp\":\"00\",\"off\":3,\"line\":36893488147419103232}",
        "{\"dev\":1,\"ino\":2,\"fp\":\"00\",\"off\":3.5,\"line\":1}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lb_error e = {0};
        if (lb_ckpt_parse(bad[i], strlen(bad[i]), &ck, &e) == 0)
            fail_msg("accepted %s (off=%llu ino=%llu line=%llu)", bad[i],
                     (unsigned long long)ck.off, ck.ino, (unsigned long long)ck.line);
        assert_int_equal(e.code, LB_ECKPT);
    }
    /* the shared reader, as mirror's checkpoint uses it */
    unsigned long long v;
    const char *m = "{\"id\":\"1-0\",\"size\":18446744073709551616,\"dev\":1,\"ino\":2}";
    assert_int_equal(lb_json_raw_u64(m, strlen(m), "size", &v), -1);
    assert_int_equal(lb_json_raw_u64(m, strlen(m), "ino", &v), 0);
    assert_true(v == 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(parity_fstat_failure_is_reported_as_such, setup, teardown),
        cmocka_unit_test_setup_teardown(source_gzip_that_cannot_start_leaks_no_fd, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_out_of_memory_in_a_page_is_reported_as_such, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(source_import_of_a_directory_names_the_path, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(source_import_of_a_corrupt_gz_names_the_path, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(checkpoint_refuses_a_value_that_would_wrap, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
