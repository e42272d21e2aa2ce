/*
 * test_source.c - bridge/source.c: reading plain files and .gz through zlib,
 * splitting lines across read chunks, CRLF, lines longer than max_line that
 * span many reads (the DLQ keeps their first 64 KiB and exact length), the
 * held-back partial last line, skip_to and fingerprints.
 *
 * Every expectation comes from the bytes the test wrote, never from the
 * reader's own bookkeeping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "import_util.h"
#include "lbtest.h"
#include "source.h"

#define CHUNK (256 * 1024) /* source.c's read size: lines are made to straddle it */

struct fx {
    char dir[256];
    char path[512];
};

static int fx_setup(void **state)
{
    struct fx *t = calloc(1, sizeof(*t));
    if (t == NULL || lbt_mkdtemp(t->dir, sizeof(t->dir)) != 0)
        return -1;
    snprintf(t->path, sizeof(t->path), "%s/in.log", t->dir);
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

static int write_gz(const char *path, const void *p, size_t n)
{
    gzFile gz = gzopen(path, "wb");
    if (gz == NULL)
        return -1;
    if (n > 0 && gzwrite(gz, p, (unsigned)n) != (int)n) {
        gzclose(gz);
        return -1;
    }
    return gzclose(gz) == Z_OK ? 0 : -1;
}

/* A line as the reader returned it, copied (slices die at the next fill). */
struct got {
    char *p;
    size_t n, full_len;
    uint64_t off, end;
    int too_long;
};

struct gots {
    struct got *v;
    size_t n, cap;
    int partial_taken;
};

static void gots_free(struct gots *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->v[i].p);
    free(g->v);
    memset(g, 0, sizeof(*g));
}

static void gots_push(struct gots *g, const struct lb_line *l)
{
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 256;
        g->v = realloc(g->v, g->cap * sizeof(*g->v));
        assert_non_null(g->v);
    }
    struct got *x = &g->v[g->n++];
    x->p = malloc(l->n + 1);
    assert_non_null(x->p);
    memcpy(x->p, l->p, l->n);
    x->n = l->n;
    x->full_len = l->full_len;
    x->off = l->off;
    x->end = l->end;
    x->too_long = l->too_long;
}

/* Read everything the way a job does: next until 0, then fill; at the end
 * take the partial line when asked. */
static void read_all(struct lb_source *s, struct gots *g, int take_partial)
{
    struct lb_error err = {0};
    struct lb_line l;
    for (;;) {
        while (lb_source_next(s, &l))
            gots_push(g, &l);
        long r = lb_source_fill(s, &err);
        assert_true(r >= 0);
        if (r == 0)
            break;
    }
    if (take_partial && lb_source_take_partial(s, &l)) {
        gots_push(g, &l);
        g->partial_taken = 1;
    }
}

/* Compare what was read with a fixture (raw = first 64 KiB of a too-long
 * line, n = whole line for the others; '\r' of CRLF is the parser's to drop,
 * so the reader keeps it). */
static void expect_lines(const struct gots *g, const struct iu_fix *f, size_t max_line)
{
    assert_int_equal(g->n, f->n);
    for (size_t i = 0; i < f->n; i++) {
        const struct iu_line *l = &f->lines[i];
        const struct got *x = &g->v[i];
        size_t len = l->len + (l->end_len == 2 ? 1 : 0); /* the reader keeps '\r' */
        int too_long = len > max_line;
        size_t want_n = too_long && len > LB_SOURCE_RAW_MAX ? LB_SOURCE_RAW_MAX : len;
        if (x->off != l->off || x->full_len != len || x->too_long != too_long || x->n != want_n ||
            x->end != l->off + len + (l->end_len ? 1 : 0) ||
            memcmp(x->p, f->buf + l->off, want_n) != 0)
            fail_msg("line %zu: got off=%" PRIu64 " n=%zu full_len=%zu end=%" PRIu64
                     " too_long=%d; want off=%" PRIu64 " n=%zu full_len=%zu end=%" PRIu64
                     " too_long=%d%s",
                     i + 1, x->off, x->n, x->full_len, x->end, x->too_long, l->off, want_n, len,
                     l->off + len + (l->end_len ? 1 : 0), too_long,
                     x->n == want_n && memcmp(x->p, f->buf + l->off, want_n) != 0
                         ? " (bytes differ)"
                         : "");
    }
}

static void add_text(struct iu_fix *f, size_t len, char fill, const char *ending)
{
    char *p = malloc(len + 1);
    assert_non_null(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (char)(fill + (char)(i % 7));
    iu_fix_add(f, p, len, ending, IU_VALID, NULL, INT64_MIN);
    free(p);
}

static struct lb_source *open_ok(const char *path, size_t max_line)
{
    struct lb_error err = {0};
    struct lb_source *s = lb_source_open(path, max_line, &err);
    if (s == NULL)
        fail_msg("lb_source_open(%s): %s", path, err.msg);
    return s;
}

/* ---- splitting ------------------------------------------------------------------ */

static void source_splits_lines_across_chunk_boundaries(void **state)
{
    struct fx *t = *state;
    struct iu_fix f;
    iu_fix_init(&f);
    /* lines of every length from 0 to 300 bytes, until 3 chunks are passed,
     * so that boundaries fall at every position inside lines, and one line
     * of exactly CHUNK bytes and one that starts right at a boundary */
    size_t len = 0;
    while (f.len < 3 * CHUNK) {
        add_text(&f, len, 'a', "\n");
        len = (len + 37) % 301;
    }
    add_text(&f, CHUNK, 'A', "\n");
    if (f.len % 2 != 0)
        iu_fix_add(&f, "", 0, "\n", IU_VALID, NULL, INT64_MIN);
    while (f.len % CHUNK != 0)
        iu_fix_add(&f, "x", 1, "\n", IU_VALID, NULL, INT64_MIN); /* 2 bytes each */
    add_text(&f, 10, 'k', "\n");
    assert_int_equal(lbt_write_file(t->path, f.buf, f.len), 0);
    struct lb_source *s = open_ok(t->path, 1024 * 1024);
    assert_int_equal(lb_source_kind(s), LB_SOURCE_FILE);
    struct gots g = {0};
    read_all(s, &g, 0);
    expect_lines(&g, &f, 1024 * 1024);
    assert_int_equal(lb_source_pending(s), 0);
    assert_int_equal(lb_source_offset(s), f.len);
    gots_free(&g);
    lb_source_close(s);
    iu_fix_free(&f);
}

static void source_keeps_cr_for_the_parser_and_splits_at_lf_only(void **state)
{
    struct fx *t = *state;
    const char data[] = "a|1|t|x\r\n\r\n\n b\rc\nlast\r\n";
    assert_int_equal(lbt_write_file(t->path, data, sizeof(data) - 1), 0);
    struct lb_source *s = open_ok(t->path, 1024);
    struct gots g = {0};
    read_all(s, &g, 0);
    assert_int_equal(g.n, 5);
    const char *want[] = {"a|1|t|x\r", "\r", "", " b\rc", "last\r"};
    const uint64_t offs[] = {0, 9, 11, 12, 17};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(g.v[i].n, strlen(want[i]));
        assert_memory_equal(g.v[i].p, want[i], g.v[i].n);
        assert_int_equal(g.v[i].off, offs[i]);
        assert_int_equal(g.v[i].full_len, strlen(want[i]));
        assert_int_equal(g.v[i].too_long, 0);
    }
    assert_int_equal(g.v[4].end, sizeof(data) - 1);
    gots_free(&g);
    lb_source_close(s);
}

static void source_line_of_exactly_max_line_is_not_too_long(void **state)
{
    struct fx *t = *state;
    struct iu_fix f;
    iu_fix_init(&f);
    add_text(&f, 100, 'a', "\n");
    add_text(&f, 101, 'b', "\n");
    add_text(&f, 99, 'c', "\n");
    add_text(&f, 0, 'd', "\n");
    assert_int_equal(lbt_write_file(t->path, f.buf, f.len), 0);
    struct lb_source *s = open_ok(t->path, 100);
    struct gots g = {0};
    read_all(s, &g, 0);
    expect_lines(&g, &f, 100);
    assert_int_equal(g.v[0].too_long, 0);
    assert_int_equal(g.v[1].too_long, 1);
    gots_free(&g);
    lb_source_close(s);
    iu_fix_free(&f);
}

/* ---- too long ------------------------------------------------------------------- */

/* A 3 MiB line with max_line 1000: it spans a dozen reads; the reader hands
 * out its first 64 KiB and its exact length, and the lines around it are
 * untouched. */
static void source_too_long_line_spans_many_reads(void **state)
{
    struct fx *t = *state;
    struct iu_fix f;
    iu_fix_init(&f);
    add_text(&f, 50, 'a', "\n");
    add_text(&f, 3 * 1024 * 1024 + 17, 'B', "\n");
    add_text(&f, 60, 'c', "\r\n");
    add_text(&f, 2000, 'D', "\n"); /* too long, but inside one read */
    add_text(&f, 10, 'e', "\n");
    assert_int_equal(lbt_write_file(t->path, f.buf, f.len), 0);
    struct lb_source *s = open_ok(t->path, 1000);
    struct gots g = {0};
    read_all(s, &g, 0);
    expect_lines(&g, &f, 1000);
    assert_int_equal(g.v[1].n, LB_SOURCE_RAW_MAX);
    assert_int_equal(g.v[1].full_len, 3 * 1024 * 1024 + 17);
    gots_free(&g);
    lb_source_close(s);
    iu_fix_free(&f);
}

/* The DLQ keeps the first 64 KiB of a too-long line whatever the alignment
 * of the line in the read chunks: here each long line starts a few hundred
 * bytes before a chunk boundary, so only that much of it is buffered when
 * the reader finds out it is too long. */
static void source_too_long_raw_is_first_64k_at_any_alignment(void **state)
{
    struct fx *t = *state;
    struct iu_fix f;
    iu_fix_init(&f);
    size_t lead[] = {500, 5000, 40000, 70000};
    for (size_t k = 0; k < 4; k++) {
        /* pad with short lines up to lead[k] bytes before the next boundary */
        size_t boundary = (f.len / CHUNK + 1) * CHUNK;
        if (boundary - f.len < lead[k] + 200)
            boundary += CHUNK;
        while (boundary - f.len > lead[k] + 100)
            add_text(&f, 98, 'a', "\n");
        size_t fill = boundary - f.len - lead[k];
        if (fill > 0)
            add_text(&f, fill - 1, 'p', "\n");
        add_text(&f, 200000 + k, 'L', "\n"); /* starts lead[k] bytes before the boundary */
    }
    add_text(&f, 10, 'z', "\n");
    assert_int_equal(lbt_write_file(t->path, f.buf, f.len), 0);
    struct lb_source *s = open_ok(t->path, 100);
    struct gots g = {0};
    read_all(s, &g, 0);
    expect_lines(&g, &f, 100);
    gots_free(&g);
    lb_source_close(s);
    iu_fix_free(&f);
}

/* source.h: "A line is a slice of the source's read buffer, valid until the
 * next lb_source_fill". A too-long line's head must stay intact while the
 * reader goes on to the next lines of the same read, since the batch that
 * holds it is only sent before the next fill - even when another too-long
 * line follows in that read. */
static void source_too_long_head_stays_valid_until_the_next_fill(void **state)
{
    struct fx *t = *state;
    struct iu_fix f;
    iu_fix_init(&f);
    add_text(&f, 300000, 'A', "\n"); /* longer than a read: goes through the skip path */
    add_text(&f, 20, 'b', "\n");
    add_text(&f, 300000, 'C', "\n"); /* and again, right after */
    add_text(&f, 20, 'd', "\n");
    assert_int_equal(lbt_write_file(t->path, f.buf, f.len), 0);
    struct lb_source *s = open_ok(t->path, 1000);
    struct lb_error err = {0};
    struct lb_line l;
    const char *held = NULL;
    char copy[64];
    size_t seen = 0;
    for (;;) {
        while (lb_source_next(s, &l)) {
            if (held != NULL)
                assert_memory_equal(held, copy, sizeof(copy));
            if (l.too_long) {
                held = l.p;
                memcpy(copy, l.p, sizeof(copy));
                assert_memory_equal(copy, f.buf + f.lines[seen].off, sizeof(copy));
            }
            seen++;
        }
        /* next() said "fill": the head must still be what it was */
        if (held != NULL && memcmp(held, copy, sizeof(copy)) != 0)
            fail_msg("the head of the too-long line %zu changed before the next fill "
                     "(now '%.20s', was '%.20s')",
                     seen, held, copy);
        held = NULL;
        long r = lb_source_fill(s, &err);
        assert_true(r >= 0);
        if (r == 0)
            break;
    }
    assert_int_equal(seen, 4);
    lb_source_close(s);
    iu_fix_free(&f);
}

/* ---- the partial last line ------------------------------------------------------ */

static void source_holds_back_the_partial_last_line(void **state)
{
    struct fx *t = *state;
    const char data[] = "one\ntwo\nthree-without-newline";
    assert_int_equal(lbt_write_file(t->path, data, sizeof(data) - 1), 0);
    struct lb_source *s = open_ok(t->path, 1024);
    struct gots g = {0};
    read_all(s, &g, 0);
    assert_int_equal(g.n, 2);
    assert_int_equal(lb_source_pending(s), strlen("three-without-newline"));
    assert_int_equal(lb_source_offset(s), 8);
    /* more bytes arrive: the line completes and is returned whole */
    assert_int_equal(lbt_append_file(t->path, "!\nfour", 6), 0);
    read_all(s, &g, 0);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.v[2].n, strlen("three-without-newline!"));
    assert_memory_equal(g.v[2].p, "three-without-newline!", g.v[2].n);
    assert_int_equal(g.v[2].off, 8);
    assert_int_equal(lb_source_pending(s), 4);
    /* end of input for good: take it */
    struct lb_line l;
    assert_int_equal(lb_source_take_partial(s, &l), 1);
    assert_int_equal(l.n, 4);
    assert_memory_equal(l.p, "four", 4);
    assert_int_equal(l.off, 31);
    assert_int_equal(l.end, 35);
    assert_int_equal(lb_source_pending(s), 0);
    assert_int_equal(lb_source_take_partial(s, &l), 0);
    gots_free(&g);
    lb_source_close(s);
}

static void source_partial_too_long_line_is_taken_with_its_length(void **state)
{
    struct fx *t = *state;
    struct iu_fix f;
    iu_fix_init(&f);
    add_text(&f, 10, 'a', "\n");
    add_text(&f, 700000, 'B', "");
    assert_int_equal(lbt_write_file(t->path, f.buf, f.len), 0);
    struct lb_source *s = open_ok(t->path, 1000);
    struct gots g = {0};
    read_all(s, &g, 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(lb_source_pending(s), 700000);
    assert_int_equal(lb_source_offset(s), 11);
    struct lb_line l;
    assert_int_equal(lb_source_take_partial(s, &l), 1);
    assert_int_equal(l.too_long, 1);
    assert_int_equal(l.full_len, 700000);
    assert_int_equal(l.n, LB_SOURCE_RAW_MAX);
    assert_memory_equal(l.p, f.buf + 11, LB_SOURCE_RAW_MAX);
    assert_int_equal(l.off, 11);
    assert_int_equal(l.end, f.len);
    gots_free(&g);
    lb_source_close(s);
    iu_fix_free(&f);
}

static void source_empty_file_has_no_lines(void **state)
{
    struct fx *t = *state;
    assert_int_equal(lbt_write_file(t->path, "", 0), 0);
    struct lb_source *s = open_ok(t->path, 1024);
    struct gots g = {0};
    read_all(s, &g, 1);
    assert_int_equal(g.n, 0);
    assert_int_equal(lb_source_pending(s), 0);
    assert_int_equal(lb_source_size(s), 0);
    lb_source_close(s);
}

/* ---- gzip ----------------------------------------------------------------------- */

static void source_reads_gz_by_magic_with_decompressed_offsets(void **state)
{
    struct fx *t = *state;
    struct iu_fix f;
    iu_fix_init(&f);
    struct iu_rng rng = {42};
    struct iu_gen gen = {20000, 10, 5, 10, 0, 0};
    iu_fix_gen(&f, &gen, &rng);
    /* named .log, but gzip inside: the magic decides */
    assert_int_equal(write_gz(t->path, f.buf, f.len), 0);
    struct lb_source *s = open_ok(t->path, 1024 * 1024);
    assert_int_equal(lb_source_kind(s), LB_SOURCE_GZ);
    assert_int_equal(lb_source_size(s), -1);
    struct gots g = {0};
    read_all(s, &g, 0);
    expect_lines(&g, &f, 1024 * 1024);
    gots_free(&g);
    lb_source_close(s);

    /* named .gz, but plain inside: read as it is */
    char p2[600];
    snprintf(p2, sizeof(p2), "%s/plain.gz", t->dir);
    assert_int_equal(lbt_write_file(p2, f.buf, f.len), 0);
    s = open_ok(p2, 1024 * 1024);
    assert_int_equal(lb_source_kind(s), LB_SOURCE_FILE);
    read_all(s, &g, 0);
    expect_lines(&g, &f, 1024 * 1024);
    gots_free(&g);
    lb_source_close(s);
    iu_fix_free(&f);
}

/* `cat a.gz b.gz > c.gz` (what some rotation setups produce): both members. */
static void source_reads_concatenated_gz_members(void **state)
{
    struct fx *t = *state;
    char a[600], b[600];
    snprintf(a, sizeof(a), "%s/a.gz", t->dir);
    snprintf(b, sizeof(b), "%s/b.gz", t->dir);
    assert_int_equal(write_gz(a, "one\ntwo\n", 8), 0);
    assert_int_equal(write_gz(b, "three\nfour", 10), 0);
    size_t na, nb;
    char *pa = lbt_read_file(a, &na), *pb = lbt_read_file(b, &nb);
    assert_int_equal(lbt_write_file(t->path, pa, na), 0);
    assert_int_equal(lbt_append_file(t->path, pb, nb), 0);
    free(pa);
    free(pb);
    struct lb_source *s = open_ok(t->path, 1024);
    struct gots g = {0};
    read_all(s, &g, 1);
    assert_int_equal(g.n, 4);
    assert_int_equal(g.partial_taken, 1);
    assert_memory_equal(g.v[2].p, "three", 5);
    assert_int_equal(g.v[2].off, 8);
    assert_memory_equal(g.v[3].p, "four", 4);
    assert_int_equal(g.v[3].off, 14);
    gots_free(&g);
    lb_source_close(s);
}

static void source_corrupt_gz_is_an_io_error(void **state)
{
    struct fx *t = *state;
    struct iu_fix f;
    iu_fix_init(&f);
    struct iu_rng rng = {7};
    struct iu_gen gen = {5000, 0, 0, 0, 0, 0};
    iu_fix_gen(&f, &gen, &rng);
    assert_int_equal(write_gz(t->path, f.buf, f.len), 0);
    size_t n;
    char *z = lbt_read_file(t->path, &n);
    for (size_t i = n / 2; i < n / 2 + 64 && i < n; i++)
        z[i] = (char)~z[i];
    assert_int_equal(lbt_write_file(t->path, z, n), 0);
    free(z);
    struct lb_source *s = open_ok(t->path, 1024 * 1024);
    struct lb_error err = {0};
    struct lb_line l;
    long r = 1;
    while (r > 0) {
        while (lb_source_next(s, &l))
            ;
        r = lb_source_fill(s, &err);
    }
    assert_int_equal(r, LB_EIO);
    lb_source_close(s);
    iu_fix_free(&f);
}

/* Read lines until fill fails or ends: the lines, and fill's last result. */
static long read_until_error(struct lb_source *s, struct gots *g, struct lb_error *err)
{
    struct lb_line l;
    for (;;) {
        while (lb_source_next(s, &l))
            gots_push(g, &l);
        long r = lb_source_fill(s, err);
        if (r <= 0)
            return r;
    }
}

/* A .gz cut short (still being written, or damaged): every line it holds is
 * read, then the end is an I/O error, as zlib's gzread reports it. */
static void source_truncated_gz_gives_its_lines_then_an_error(void **state)
{
    struct fx *t = *state;
    char data[4000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (i % 40 == 39) ? '\n' : (char)('a' + i % 26);
    assert_int_equal(write_gz(t->path, data, sizeof(data)), 0);
    size_t n;
    char *z = lbt_read_file(t->path, &n);
    assert_int_equal(lbt_write_file(t->path, z, n - 8), 0); /* without its CRC and length */
    free(z);
    struct lb_source *s = open_ok(t->path, 1024);
    struct gots g = {0};
    struct lb_error err = {0};
    assert_int_equal(read_until_error(s, &g, &err), LB_EIO);
    assert_int_equal(g.n, 100);
    if (strstr(err.msg, t->path) == NULL || strstr(err.msg, "gzip: ") == NULL ||
        strstr(err.msg, "unexpected end of file") == NULL)
        fail_msg("%s", err.msg);
    gots_free(&g);
    lb_source_close(s);
}

/* Bytes after the last member that are not gzip (padding, garbage) end the
 * input, as zlib's gzread has it. */
static void source_gz_ignores_what_follows_its_last_member(void **state)
{
    struct fx *t = *state;
    assert_int_equal(write_gz(t->path, "one\ntwo\n", 8), 0);
    static const char pad[] = "\0\0\0\0not gzip\n";
    assert_int_equal(lbt_append_file(t->path, pad, sizeof(pad) - 1), 0);
    struct lb_source *s = open_ok(t->path, 1024);
    struct gots g = {0};
    read_all(s, &g, 1);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.partial_taken, 0);
    assert_memory_equal(g.v[1].p, "two", 3);
    gots_free(&g);
    lb_source_close(s);
}

/* ---- pipes -------------------------------------------------------------------------- */

/* A pipe (here a FIFO; stdin is read the same way) is read as soon as it has
 * something, and a wait for more ends once the stop fd is readable
 * (LB_ESTOP); input that has arrived is read before the stop is obeyed. */
static void source_pipe_hands_out_what_arrived_and_stops_on_the_stop_fd(void **state)
{
    struct fx *t = *state;
    char fifo[600];
    snprintf(fifo, sizeof(fifo), "%s/fifo", t->dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    int w = open(fifo, O_RDWR | O_CLOEXEC); /* a writer, so that the reader's open returns */
    assert_true(w >= 0);
    struct lb_source *s = open_ok(fifo, 1024);
    int stop = eventfd(0, EFD_CLOEXEC);
    assert_true(stop >= 0);
    lb_source_stop_on(s, stop);
    struct lb_error err = {0};
    struct lb_line l;
    assert_int_equal(write(w, "a\nb\nc", 5), 5);
    assert_int_equal(lb_source_fill(s, &err), 5); /* without waiting for more */
    assert_int_equal(lb_source_next(s, &l), 1);
    assert_int_equal(lb_source_next(s, &l), 1);
    assert_memory_equal(l.p, "b", 1);
    assert_int_equal(lb_source_next(s, &l), 0);
    uint64_t one = 1;
    assert_int_equal(write(stop, &one, sizeof(one)), (ssize_t)sizeof(one));
    assert_int_equal(write(w, "\n", 1), 1);
    assert_int_equal(lb_source_fill(s, &err), 1); /* what arrived, before the stop */
    assert_int_equal(lb_source_next(s, &l), 1);
    assert_memory_equal(l.p, "c", 1);
    assert_int_equal(lb_source_fill(s, &err), LB_ESTOP);
    assert_int_equal(err.code, LB_ESTOP);
    assert_int_equal(lb_source_offset(s), 6);
    lb_source_close(s);
    close(stop);
    close(w);
}

/* ---- skip_to ------------------------------------------------------------------------ */

static void check_skip(const char *path, const struct iu_fix *f, size_t line)
{
    struct lb_error err = {0};
    struct lb_source *s = open_ok(path, 1024 * 1024);
    uint64_t off = line < f->n ? f->lines[line].off : f->len;
    assert_int_equal(lb_source_skip_to(s, off, &err), 0);
    assert_int_equal(lb_source_offset(s), off);
    struct gots g = {0};
    read_all(s, &g, 0);
    assert_int_equal(g.n, f->n - line);
    for (size_t i = 0; i < g.n; i++) {
        const struct iu_line *l = &f->lines[line + i];
        assert_int_equal(g.v[i].off, l->off);
        assert_int_equal(g.v[i].n, l->len + (l->end_len == 2));
        assert_memory_equal(g.v[i].p, f->buf + l->off, g.v[i].n);
    }
    gots_free(&g);
    lb_source_close(s);
}

static void source_skip_to_resumes_plain_and_gz(void **state)
{
    struct fx *t = *state;
    struct iu_fix f;
    iu_fix_init(&f);
    struct iu_rng rng = {99};
    struct iu_gen gen = {30000, 10, 5, 10, 0, 0};
    iu_fix_gen(&f, &gen, &rng);
    char gz[600];
    snprintf(gz, sizeof(gz), "%s/in.log.gz", t->dir);
    assert_int_equal(lbt_write_file(t->path, f.buf, f.len), 0);
    assert_int_equal(write_gz(gz, f.buf, f.len), 0);
    size_t at[] = {0, 1, 7, 5000, 12345, f.n - 1, f.n};
    for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
        check_skip(t->path, &f, at[k]);
        check_skip(gz, &f, at[k]);
    }
    iu_fix_free(&f);
}

static void source_skip_to_past_the_end_of_gz_fails(void **state)
{
    struct fx *t = *state;
    assert_int_equal(write_gz(t->path, "a\nb\n", 4), 0);
    struct lb_error err = {0};
    struct lb_source *s = open_ok(t->path, 1024);
    assert_int_equal(lb_source_skip_to(s, 100, &err), LB_EIO);
    assert_non_null(strstr(err.msg, "100"));
    lb_source_close(s);
}

/* ---- identity ---------------------------------------------------------------------- */

static void fnv(const void *p, size_t n, char hex[LB_FP_HEX])
{
    /* FNV-1a 64, written here from its definition */
    const unsigned char *b = p;
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    snprintf(hex, LB_FP_HEX, "%016" PRIx64, h);
}

static void source_fingerprint_covers_the_first_kib(void **state)
{
    struct fx *t = *state;
    char data[3000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (i % 50 == 49) ? '\n' : (char)('a' + i % 26);
    char gz[600];
    snprintf(gz, sizeof(gz), "%s/in.gz", t->dir);
    assert_int_equal(lbt_write_file(t->path, data, sizeof(data)), 0);
    assert_int_equal(write_gz(gz, data, sizeof(data)), 0);
    const char *paths[] = {t->path, gz};
    uint64_t lens[] = {0, 1, 50, 1023, 1024, 1025, 2999, 3000};
    for (int p = 0; p < 2; p++) {
        struct lb_source *s = open_ok(paths[p], 1024);
        for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
            char got[LB_FP_HEX], want[LB_FP_HEX];
            assert_int_equal(lb_source_fingerprint(s, lens[k], got), 0);
            fnv(data, lens[k] < 1024 ? lens[k] : 1024, want);
            if (strcmp(got, want) != 0)
                fail_msg("%s: fingerprint of %" PRIu64 " bytes is %s, want %s", paths[p], lens[k],
                         got, want);
            char h2[LB_FP_HEX];
            lb_fp_hex(data, lens[k] < 1024 ? lens[k] : 1024, h2);
            assert_string_equal(h2, want);
        }
        /* reading the fingerprint of a .gz must not disturb the lines */
        struct gots g = {0};
        read_all(s, &g, 0);
        assert_int_equal(g.n, 60);
        assert_int_equal(g.v[59].off, 2950);
        gots_free(&g);
        lb_source_close(s);
    }
}

static void source_fingerprint_of_a_short_file_fails(void **state)
{
    struct fx *t = *state;
    assert_int_equal(lbt_write_file(t->path, "abc\n", 4), 0);
    struct lb_source *s = open_ok(t->path, 1024);
    char hex[LB_FP_HEX];
    assert_int_equal(lb_source_fingerprint(s, 4, hex), 0);
    assert_int_equal(lb_source_fingerprint(s, 5, hex), LB_EIO);
    assert_int_equal(lb_source_fingerprint(s, 100000, hex), LB_EIO);
    lb_source_close(s);
}

static void source_identity_is_dev_and_inode(void **state)
{
    struct fx *t = *state;
    assert_int_equal(lbt_write_file(t->path, "abc\n", 4), 0);
    struct stat st;
    assert_int_equal(stat(t->path, &st), 0);
    struct lb_source *s = open_ok(t->path, 1024);
    assert_true(lb_source_dev(s) == st.st_dev);
    assert_true(lb_source_ino(s) == st.st_ino);
    assert_int_equal(lb_source_size(s), 4);
    lb_source_close(s);

    /* from an fd (tail adopts its own): the source owns and closes it */
    int fd = open(t->path, O_RDONLY);
    assert_true(fd >= 0);
    struct lb_error err = {0};
    s = lb_source_from_fd(fd, 1024, &err);
    assert_non_null(s);
    assert_true(lb_source_ino(s) == st.st_ino);
    struct gots g = {0};
    read_all(s, &g, 0);
    assert_int_equal(g.n, 1);
    gots_free(&g);
    lb_source_close(s);
    lb_source_close(NULL);
}

static void source_open_missing_file_names_it(void **state)
{
    struct fx *t = *state;
    char p[600];
    snprintf(p, sizeof(p), "%s/nope.log", t->dir);
    struct lb_error err = {0};
    assert_null(lb_source_open(p, 1024, &err));
    assert_int_equal(err.code, LB_EIO);
    assert_non_null(strstr(err.msg, "nope.log"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
        T(source_splits_lines_across_chunk_boundaries),
        T(source_keeps_cr_for_the_parser_and_splits_at_lf_only),
        T(source_line_of_exactly_max_line_is_not_too_long),
        T(source_too_long_line_spans_many_reads),
        T(source_too_long_raw_is_first_64k_at_any_alignment),
        T(source_too_long_head_stays_valid_until_the_next_fill),
        T(source_holds_back_the_partial_last_line),
        T(source_partial_too_long_line_is_taken_with_its_length),
        T(source_empty_file_has_no_lines),
        T(source_reads_gz_by_magic_with_decompressed_offsets),
        T(source_reads_concatenated_gz_members),
        T(source_corrupt_gz_is_an_io_error),
        T(source_truncated_gz_gives_its_lines_then_an_error),
        T(source_gz_ignores_what_follows_its_last_member),
        T(source_pipe_hands_out_what_arrived_and_stops_on_the_stop_fd),
        T(source_skip_to_resumes_plain_and_gz),
        T(source_skip_to_past_the_end_of_gz_fails),
        T(source_fingerprint_covers_the_first_kib),
        T(source_fingerprint_of_a_short_file_fails),
        T(source_identity_is_dev_and_inode),
        T(source_open_missing_file_names_it),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
