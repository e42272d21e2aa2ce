/*
 * test_tail_rotate.c - the rotation finder (lb_rot_chain) on real files in a
 * temp dir, and the rotation state of a route (lb_rot_next), one transition
 * at a time.
 *
 * A rotation that happens while the finder looks (logrotate shifting
 * app.log.N to app.log.N+1 while tail restarts or handles a truncation) is
 * forced by interposing readdir and open in this binary (its own
 * definitions win over libc's for the logbridge objects linked into it, as
 * in test_faults): armed, they run the rotation once at the moment a test
 * chooses, and otherwise pass through.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "lbtest.h"
#include "tail_int.h"

struct t {
    char dir[256];
    char stem[64];
};

/* ---- interposed functions ------------------------------------------------------ */

/* A rotation to run once (armed), and when: */
static void (*rotate_fn)(void *ctx);
static void *rotate_ctx;
/* inside the first readdir of a listing: the entries are those of before it
 * (glibc reads a small directory whole with the first getdents; POSIX
 * leaves unspecified whether a file renamed meanwhile is listed) */
static int rotate_in_listing;
/* at the first open after a listing has ended (the names listed have moved
 * by the time the finder opens them) */
static int rotate_after_listing;
static int listing_ended;

static struct dirent snap[64];
static size_t nsnap, isnap;
static DIR *snap_dir;

static void rotate_now(void)
{
    void (*fn)(void *) = rotate_fn;
    rotate_fn = NULL;
    rotate_in_listing = rotate_after_listing = 0;
    fn(rotate_ctx);
}

struct dirent *readdir(DIR *d)
{
    static struct dirent *(*real)(DIR *);
    if (real == NULL)
        real = (struct dirent * (*)(DIR *)) dlsym(RTLD_NEXT, "readdir");
    if (rotate_fn != NULL && rotate_in_listing && snap_dir == NULL) {
        struct dirent *e;
        nsnap = isnap = 0;
        while (nsnap < sizeof(snap) / sizeof(snap[0]) && (e = real(d)) != NULL)
            snap[nsnap++] = *e;
        snap_dir = d;
        rotate_now();
    }
    if (snap_dir == d) {
        if (isnap < nsnap)
            return &snap[isnap++];
        snap_dir = NULL;
        listing_ended = 1;
        return NULL;
    }
    struct dirent *e = real(d);
    listing_ended = e == NULL;
    return e;
}

int open(const char *path, int flags, ...)
{
    static int (*real)(const char *, int, ...);
    if (real == NULL)
        real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (rotate_fn != NULL && rotate_after_listing && listing_ended)
        rotate_now();
    return real(path, flags, mode);
}

/* ---- fixture ------------------------------------------------------------------- */

static int setup(void **state)
{
    struct t *t = calloc(1, sizeof(*t));
    if (t == NULL || lbt_mkdtemp(t->dir, sizeof(t->dir)) != 0)
        return -1;
    snprintf(t->stem, sizeof(t->stem), "app");
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;
    lbt_rmdir(t->dir);
    free(t);
    return 0;
}

static void put(struct t *t, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", t->dir, name);
    assert_int_equal(lbt_write_file(p, text, strlen(text)), 0);
    lbt_sleep_ms(15); /* birth times tick coarsely: generations are born apart */
}

static void mv(struct t *t, const char *from, const char *to)
{
    char a[512], b[512];
    snprintf(a, sizeof(a), "%s/%s", t->dir, from);
    snprintf(b, sizeof(b), "%s/%s", t->dir, to);
    assert_int_equal(rename(a, b), 0);
}

static void gz(struct t *t, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", t->dir, name);
    gzFile g = gzopen(p, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, text, (unsigned)strlen(text)), (int)strlen(text));
    gzclose(g);
}

static struct stat st_of(struct t *t, const char *name)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", t->dir, name);
    assert_int_equal(stat(p, &st), 0);
    return st;
}

/* The identity of `text` in file `name`, checkpointed at off. */
static struct lb_rot_ident ident(struct t *t, const char *name, const char *text, uint64_t off)
{
    struct stat st = st_of(t, name);
    struct lb_rot_ident id = {
        .dev = (unsigned long long)st.st_dev, .ino = (unsigned long long)st.st_ino, .off = off};
    id.fp_len = off < LB_FP_LEN ? (size_t)off : LB_FP_LEN;
    lb_fp_hex(text, id.fp_len, id.fp);
    return id;
}

static void query(struct t *t, struct lb_rot_query *q, const struct lb_rot_ident *ck,
                  const char *live)
{
    memset(q, 0, sizeof(*q));
    q->dirs[q->ndirs++] = t->dir;
    q->stems[q->nstems++] = t->stem;
    q->ck = ck;
    if (live != NULL) {
        struct stat st = st_of(t, live);
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", t->dir, live);
        int fd = open(p, O_RDONLY);
        assert_true(fd >= 0);
        q->has_live = 1;
        q->live_dev = (unsigned long long)st.st_dev;
        q->live_ino = (unsigned long long)st.st_ino;
        q->live_key = lb_rot_btime(fd);
        if (q->live_key <= 0)
            q->live_key = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
        close(fd);
    }
}

/* The base names of the chain, joined by spaces; the sources are closed. */
static void names(struct lb_rot_found *f, size_t n, char *out, size_t cap)
{
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *b = strrchr(f[i].path, '/') + 1;
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? " " : "", b);
        lb_source_close(f[i].s);
    }
    free(f);
}

static void need_btime(struct t *t)
{
    put(t, "probe", "x");
    char p[512];
    snprintf(p, sizeof(p), "%s/probe", t->dir);
    int fd = open(p, O_RDONLY);
    double bt = lb_rot_btime(fd);
    close(fd);
    unlink(p);
    if (bt <= 0)
        skip();
}

#define A "app|2025-06-18T10:00:00Z|a|1\napp|2025-06-18T10:00:01Z|a|2\n"
#define B "app|2025-06-18T11:00:00Z|b|1\n"
#define C "app|2025-06-18T12:00:00Z|c|1\n"

/* Renamed twice, the first one compressed, the live file reusing nothing:
 * the .gz (by decompressed fingerprint), then the plain one in between. */
static void rot_chain_gz_then_between(void **state)
{
    struct t *t = *state;
    need_btime(t);
    put(t, "app.log", A);
    struct lb_rot_ident id = ident(t, "app.log", A, 30);
    mv(t, "app.log", "app.log.1");
    put(t, "app.log", B);
    char p[512];
    snprintf(p, sizeof(p), "%s/app.log.1", t->dir);
    gz(t, "app.log.2.gz", A);
    unlink(p);
    mv(t, "app.log", "app.log.1");
    put(t, "app.log", C);
    struct lb_rot_query q;
    query(t, &q, &id, "app.log");
    /* the .gz was made after B was born (zlib keeps no time, as when
     * logrotate pipes through gzip): the time of the last commit bounds it */
    q.after = st_of(t, "app.log.1").st_mtim.tv_sec - 1.0;
    struct lb_rot_found *f;
    int found;
    size_t n = lb_rot_chain(&q, 1 << 20, &f, &found);
    assert_int_equal(found, 1);
    assert_int_equal(n, 2);
    assert_true(f[0].gz && f[0].copy);
    char got[512];
    names(f, n, got, sizeof(got));
    assert_string_equal(got, "app.log.2.gz app.log.1");
}

/* The checkpointed inode, renamed: found by inode and fingerprint; an
 * unrelated sibling born meanwhile (syslog.1) is not taken; a rotated
 * generation of the same family with a dated name is. */
static void rot_chain_by_inode_family_only(void **state)
{
    struct t *t = *state;
    need_btime(t);
    put(t, "app.log", A);
    struct lb_rot_ident id = ident(t, "app.log", A, strlen(A));
    mv(t, "app.log", "app.log-20250618");
    put(t, "syslog", B);
    put(t, "app.log", B);
    mv(t, "app.log", "app.log-20250619");
    put(t, "app.log", C);
    struct lb_rot_query q;
    query(t, &q, &id, "app.log");
    struct lb_rot_found *f;
    int found;
    size_t n = lb_rot_chain(&q, 1 << 20, &f, &found);
    assert_int_equal(found, 1);
    assert_false(f[0].copy);
    char got[512];
    names(f, n, got, sizeof(got));
    assert_string_equal(got, "app.log-20250618 app.log-20250619");
}

/* Same inode at the path with other content (copytruncate): the copy with
 * the checkpointed first bytes, then the copy made after it; no upper bound
 * (the live inode is old). */
static void rot_chain_copytruncate_twice(void **state)
{
    struct t *t = *state;
    need_btime(t);
    put(t, "app.log", A);
    struct lb_rot_ident id = ident(t, "app.log", A, 30);
    put(t, "app.log.1", A); /* copy 1 */
    char p[512];
    snprintf(p, sizeof(p), "%s/app.log", t->dir);
    assert_int_equal(truncate(p, 0), 0);
    assert_int_equal(lbt_append_file(p, B, strlen(B)), 0);
    mv(t, "app.log.1", "app.log.2");
    put(t, "app.log.1", B); /* copy 2 */
    assert_int_equal(truncate(p, 0), 0);
    assert_int_equal(lbt_append_file(p, C, strlen(C)), 0);
    struct lb_rot_query q;
    query(t, &q, &id, "app.log");
    struct lb_rot_found *f;
    int found;
    size_t n = lb_rot_chain(&q, 1 << 20, &f, &found);
    assert_int_equal(found, 1);
    assert_true(f[0].copy && !f[0].gz);
    char got[512];
    names(f, n, got, sizeof(got));
    assert_string_equal(got, "app.log.2 app.log.1");
}

/* The checkpointed generation is gone: nothing found; with the time of the
 * last commit, the generations changed after it are still read. */
static void rot_chain_not_found_uses_commit_time(void **state)
{
    struct t *t = *state;
    put(t, "app.log.3", A); /* old, before the commit */
    struct lb_rot_ident id = {.dev = 1, .ino = 1, .off = 10, .fp_len = 10};
    lb_fp_hex("0123456789", 10, id.fp);
    struct stat old = st_of(t, "app.log.3");
    lbt_sleep_ms(30);
    put(t, "app.log.1", B);
    put(t, "app.log", C);
    struct lb_rot_query q;
    query(t, &q, &id, "app.log");
    q.after = (double)old.st_mtim.tv_sec + (double)old.st_mtim.tv_nsec / 1e9 + 0.015;
    struct lb_rot_found *f;
    int found;
    size_t n = lb_rot_chain(&q, 1 << 20, &f, &found);
    assert_int_equal(found, 0);
    char got[512];
    names(f, n, got, sizeof(got));
    assert_string_equal(got, "app.log.1");
    /* without a commit time: nothing */
    q.after = -1;
    n = lb_rot_chain(&q, 1 << 20, &f, &found);
    assert_int_equal(n, 0);
}

/* A compressed file we cannot read is never taken for lines; a .gz that is
 * the same generation as a plain file (being compressed) is read once. */
static void rot_chain_foreign_and_duplicate_gz(void **state)
{
    struct t *t = *state;
    need_btime(t);
    put(t, "app.log", A);
    struct lb_rot_ident id = ident(t, "app.log", A, strlen(A));
    mv(t, "app.log", "app.log.2");
    put(t, "app.log.1.xz",
        "\xfd"
        "7zXZ\0garbage");
    put(t, "app.log.1", B);
    gz(t, "app.log.1.gz", B);
    put(t, "app.log", C);
    struct lb_rot_query q;
    query(t, &q, &id, "app.log");
    struct lb_rot_found *f;
    int found;
    size_t n = lb_rot_chain(&q, 1 << 20, &f, &found);
    assert_int_equal(found, 1);
    char got[512];
    names(f, n, got, sizeof(got));
    assert_string_equal(got, "app.log.2 app.log.1");
}

/* Held or finished generations (skip) are left out. */
static int skip_b(void *ctx, unsigned long long dev, unsigned long long ino)
{
    const struct stat *st = ctx;
    return dev == (unsigned long long)st->st_dev && ino == (unsigned long long)st->st_ino;
}

static void rot_chain_skips_held(void **state)
{
    struct t *t = *state;
    need_btime(t);
    put(t, "app.log", A);
    struct lb_rot_ident id = ident(t, "app.log", A, strlen(A));
    mv(t, "app.log", "app.log.2");
    put(t, "app.log.1", B);
    put(t, "app.log", C);
    struct stat held = st_of(t, "app.log.1");
    struct lb_rot_query q;
    query(t, &q, &id, "app.log");
    q.skip = skip_b;
    q.ctx = &held;
    struct lb_rot_found *f;
    int found;
    size_t n = lb_rot_chain(&q, 1 << 20, &f, &found);
    char got[512];
    names(f, n, got, sizeof(got));
    assert_string_equal(got, "app.log.2");
}

/* copytruncate with logrotate's numbering: app.log.N -> app.log.N+1 from
 * the highest (have copies exist), the live file copied to app.log.1, then
 * emptied and written with next. */
struct shift {
    struct t *t;
    int have;
    const char *next;
};

static void copytruncate(void *ctx)
{
    struct shift *sh = ctx;
    for (int k = sh->have; k >= 1; k--) {
        char a[32], b[32];
        snprintf(a, sizeof(a), "app.log.%d", k);
        snprintf(b, sizeof(b), "app.log.%d", k + 1);
        mv(sh->t, a, b);
    }
    char p[512];
    snprintf(p, sizeof(p), "%s/app.log", sh->t->dir);
    char *all = lbt_read_file(p, NULL);
    assert_non_null(all);
    put(sh->t, "app.log.1", all);
    free(all);
    assert_int_equal(truncate(p, 0), 0);
    assert_int_equal(lbt_append_file(p, sh->next, strlen(sh->next)), 0);
}

/* Checkpointed in A at the live inode; copytruncated twice since (A and B
 * in app.log.2 and app.log.1, C live); a third copytruncate runs as the
 * finder looks (when: see the interposed functions). Every copy is found,
 * the checkpointed one by its first bytes, in order. */
static void copies_shifted(struct t *t, int *when)
{
    need_btime(t);
    put(t, "app.log", A);
    struct lb_rot_ident id = ident(t, "app.log", A, 30);
    struct shift sh = {t, 0, B};
    copytruncate(&sh);
    sh.have = 1;
    sh.next = C;
    copytruncate(&sh);
    struct lb_rot_query q;
    query(t, &q, &id, "app.log");
    sh.have = 2;
    sh.next = "app|2025-06-18T13:00:00Z|d|1\n";
    rotate_fn = copytruncate;
    rotate_ctx = &sh;
    listing_ended = 0;
    *when = 1;
    struct lb_rot_found *f;
    int found;
    size_t n = lb_rot_chain(&q, 1 << 20, &f, &found);
    assert_null(rotate_fn); /* it did run */
    assert_int_equal(found, 1);
    assert_true(n >= 1 && f[0].copy);
    char got[512];
    names(f, n, got, sizeof(got));
    assert_string_equal(got, "app.log.3 app.log.2 app.log.1");
}

/* The names were read before the rotation, the files looked at after it
 * (before: the checkpointed copy, renamed from app.log.2 to app.log.3
 * meanwhile, was not found, nor anything after it: found 0, no chain). */
static void rot_chain_copies_shifted_while_listed(void **state)
{
    copies_shifted(*state, &rotate_in_listing);
}

/* The listing was complete; the files moved before they were opened
 * (before: the same). */
static void rot_chain_copies_shifted_after_listing(void **state)
{
    copies_shifted(*state, &rotate_after_listing);
}

static void rot_stem(void **state)
{
    (void)state;
    char s[64];
    lb_rot_stem("app.log", s, sizeof(s));
    assert_string_equal(s, "app");
    lb_rot_stem("access_log", s, sizeof(s));
    assert_string_equal(s, "access_log");
    lb_rot_stem(".hidden", s, sizeof(s));
    assert_string_equal(s, ".hidden");
}

/* Every transition of the rotation state. */
static void rot_state_transitions(void **state)
{
    (void)state;
    /* a generation becomes current: live at the path, else draining */
    assert_int_equal(lb_rot_next(LB_ROT_WAITING, LB_ROT_EV_CURRENT, 1), LB_ROT_LIVE);
    assert_int_equal(lb_rot_next(LB_ROT_WAITING, LB_ROT_EV_CURRENT, 0), LB_ROT_DRAINING);
    assert_int_equal(lb_rot_next(LB_ROT_DRAINING, LB_ROT_EV_CURRENT, 1), LB_ROT_LIVE);
    assert_int_equal(lb_rot_next(LB_ROT_DRAINING, LB_ROT_EV_CURRENT, 0), LB_ROT_DRAINING);
    assert_int_equal(lb_rot_next(LB_ROT_LIVE, LB_ROT_EV_CURRENT, 0), LB_ROT_DRAINING);
    /* renamed, deleted, or another file at the path */
    assert_int_equal(lb_rot_next(LB_ROT_LIVE, LB_ROT_EV_LEFT_PATH, 0), LB_ROT_DRAINING);
    assert_int_equal(lb_rot_next(LB_ROT_DRAINING, LB_ROT_EV_LEFT_PATH, 0), LB_ROT_DRAINING);
    assert_int_equal(lb_rot_next(LB_ROT_WAITING, LB_ROT_EV_LEFT_PATH, 0), LB_ROT_WAITING);
    /* moved away and back */
    assert_int_equal(lb_rot_next(LB_ROT_DRAINING, LB_ROT_EV_AT_PATH, 1), LB_ROT_LIVE);
    assert_int_equal(lb_rot_next(LB_ROT_LIVE, LB_ROT_EV_AT_PATH, 1), LB_ROT_LIVE);
    assert_int_equal(lb_rot_next(LB_ROT_WAITING, LB_ROT_EV_AT_PATH, 1), LB_ROT_WAITING);
    /* nothing left */
    assert_int_equal(lb_rot_next(LB_ROT_LIVE, LB_ROT_EV_NONE, 0), LB_ROT_WAITING);
    assert_int_equal(lb_rot_next(LB_ROT_DRAINING, LB_ROT_EV_NONE, 0), LB_ROT_WAITING);
    assert_string_equal(lb_rot_state_name(LB_ROT_DRAINING), "draining");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rot_chain_gz_then_between, setup, teardown),
        cmocka_unit_test_setup_teardown(rot_chain_by_inode_family_only, setup, teardown),
        cmocka_unit_test_setup_teardown(rot_chain_copytruncate_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(rot_chain_not_found_uses_commit_time, setup, teardown),
        cmocka_unit_test_setup_teardown(rot_chain_foreign_and_duplicate_gz, setup, teardown),
        cmocka_unit_test_setup_teardown(rot_chain_skips_held, setup, teardown),
        cmocka_unit_test_setup_teardown(rot_chain_copies_shifted_while_listed, setup, teardown),
        cmocka_unit_test_setup_teardown(rot_chain_copies_shifted_after_listing, setup, teardown),
        cmocka_unit_test(rot_stem),
        cmocka_unit_test(rot_state_transitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
