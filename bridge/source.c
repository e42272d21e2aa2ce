/*
 * source.c - one input file: identity, reading in large chunks, line splitting.
 *
 * The buffer holds at most max_line bytes of an unfinished line plus one read
 * chunk, so memory is bounded by the line limit whatever the file size. A
 * line longer than max_line is not kept: its first LB_SOURCE_RAW_MAX bytes go
 * to a side buffer (for the DLQ) and the rest is skipped up to its '\n'.
 *
 * Reading has two layers. The raw read (lb_source_raw) returns what the fd
 * has now: on a pipe or a terminal it waits, together with the stop eventfd
 * when one is given, for the first byte, then takes whatever else is already
 * there, so that a producer that pauses has its lines handed out at once and
 * a stop is seen while waiting. gzip (a .gz file, or gzip on stdin, told
 * apart by its magic) is inflated here over that raw read, one member after
 * another as `cat a.gz b.gz` gives them; zlib's gzread is not used because
 * it waits until its whole chunk is filled.
 */
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define LB_SOURCE_CHUNK (256 * 1024)
#define LB_SOURCE_ZIN (128 * 1024) /* compressed bytes read at once */

/* gzip input: our inflate over raw reads. */
struct lb_source_gz {
    z_stream z;
    unsigned char in[LB_SOURCE_ZIN];
    int member_end; /* a member ended: what follows is another member, or the end */
    int done;       /* the input ended (or what follows the last member is not gzip) */
    int raw_eof;    /* the fd has nothing more */
};

struct lb_source {
    enum lb_source_kind kind;
    char *name; /* the path as given (or "stdin"), for messages; NULL from an fd */
    int fd;
    struct lb_source_gz *gz; /* gzip input, else NULL */
    int sniffed;             /* stdin: its first bytes said whether it is gzip */
    int waits;               /* the fd may have nothing yet (a pipe, a terminal): poll it */
    int stop_fd;             /* -1, or readable when a wait must end (lb_source_stop_on) */
    uint64_t raw_read;       /* bytes read from the fd (compressed for gzip) */
    dev_t dev;
    ino_t ino;
    size_t max_line;

    char *buf;
    size_t cap;
    size_t start;  /* first byte not yet returned */
    size_t scan;   /* bytes before this (from start) hold no '\n' */
    size_t end;    /* bytes valid */
    uint64_t base; /* file offset of buf[0] */
    int eof;

    /* A too-long line being skipped: its head, where it began, its length. */
    int skipping;
    int skip_pending; /* the line at start is too long: skip it at the next fill */
    char *long_head;
    size_t long_n;
    uint64_t long_off;
    size_t long_len;

    /* The first bytes of the content, for fingerprints of .gz and stdin. */
    char head[LB_FP_LEN];
    size_t head_len;

    /* A small-start buffer (lb_source_from_fd_small): cap_min > 0; it grows
     * up to cap_max on demand and lb_source_shrink returns it to cap_min. */
    size_t cap_min, cap_max;
    int last_full; /* the last read filled all the room it was given */
};

static struct lb_source *lb_source_alloc(size_t max_line, size_t initial, struct lb_error *err)
{
    struct lb_source *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        lb_error_set(err, LB_ENOMEM, "out of memory");
        return NULL;
    }
    s->fd = -1; /* close is safe from here on */
    s->stop_fd = -1;
    s->max_line = max_line;
    s->cap = max_line + 1 + LB_SOURCE_CHUNK;
    if (initial > 0 && initial < s->cap) {
        s->cap_max = s->cap;
        s->cap_min = s->cap = initial;
    }
    s->buf = malloc(s->cap);
    if (s->buf == NULL) {
        lb_source_close(s);
        lb_error_set(err, LB_ENOMEM, "out of memory for a %zu-byte buffer", max_line);
        return NULL;
    }
    return s;
}

void lb_source_close(struct lb_source *s)
{
    if (s == NULL)
        return;
    if (s->gz != NULL) {
        inflateEnd(&s->gz->z);
        free(s->gz);
    }
    if (s->fd >= 0 && s->kind != LB_SOURCE_STDIN)
        close(s->fd);
    free(s->buf);
    free(s->long_head);
    free(s->name);
    free(s);
}

/* Every I/O error names the input: "PATH: what: why" (just "what: why" for a
 * source made from an fd, whose caller names it). */
static const char *lb_source_pre(const struct lb_source *s)
{
    return s->name != NULL ? s->name : "";
}

static const char *lb_source_sep(const struct lb_source *s)
{
    return s->name != NULL ? ": " : "";
}

/* The gzip magic (RFC 1952): the first two bytes of every member. */
static int lb_source_is_gzip(const unsigned char *p, size_t n)
{
    return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

static int lb_source_identify(struct lb_source *s, struct lb_error *err)
{
    struct stat st;
    if (fstat(s->fd, &st) != 0)
        return lb_error_set(err, LB_EIO, "%s%sfstat: %s", lb_source_pre(s), lb_source_sep(s),
                            strerror(errno));
    /* open(2) accepts a directory; read(2) would then fail with EISDIR */
    if (S_ISDIR(st.st_mode))
        return lb_error_set(err, LB_EIO, "%s%sis a directory, not a file", lb_source_pre(s),
                            lb_source_sep(s));
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->waits = !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode);
    return 0;
}

/* Start inflating gzip; its first compressed bytes (already read) may be
 * given. */
static int lb_source_gz_start(struct lb_source *s, const void *first, size_t n,
                              struct lb_error *err)
{
    s->gz = calloc(1, sizeof(*s->gz));
    /* 16 + MAX_WBITS: a gzip header and trailer (CRC and length checked) */
    if (s->gz == NULL || inflateInit2(&s->gz->z, 16 + MAX_WBITS) != Z_OK) {
        free(s->gz);
        s->gz = NULL;
        return lb_error_set(err, LB_ENOMEM, "%s%sgzip: out of memory", lb_source_pre(s),
                            lb_source_sep(s));
    }
    if (n > 0)
        memcpy(s->gz->in, first, n);
    s->gz->z.next_in = s->gz->in;
    s->gz->z.avail_in = (uInt)n;
    return 0;
}

struct lb_source *lb_source_from_fd(int fd, size_t max_line, struct lb_error *err)
{
    return lb_source_from_fd_small(fd, max_line, 0, err);
}

struct lb_source *lb_source_from_fd_small(int fd, size_t max_line, size_t initial,
                                          struct lb_error *err)
{
    struct lb_source *s = lb_source_alloc(max_line, initial, err);
    if (s == NULL) {
        close(fd);
        return NULL;
    }
    s->kind = LB_SOURCE_FILE;
    s->fd = fd;
    if (lb_source_identify(s, err) != 0) {
        lb_source_close(s);
        return NULL;
    }
    return s;
}

struct lb_source *lb_source_open(const char *path, size_t max_line, struct lb_error *err)
{
    struct lb_source *s = lb_source_alloc(max_line, 0, err);
    if (s == NULL)
        return NULL;
    int is_stdin = strcmp(path, "-") == 0;
    if ((s->name = strdup(is_stdin ? "stdin" : path)) == NULL) {
        lb_source_close(s);
        lb_error_set(err, LB_ENOMEM, "out of memory");
        return NULL;
    }
    if (is_stdin) {
        /* no identity (dev and ino stay 0): gzip or not is told by the first
         * bytes read (lb_source_sniff) */
        s->kind = LB_SOURCE_STDIN;
        s->fd = 0;
        struct stat st;
        s->waits = fstat(0, &st) != 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode));
        return s;
    }
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0) {
        lb_error_set(err, LB_EIO, "%s: %s", path, strerror(errno));
        lb_source_close(s);
        return NULL;
    }
    if (lb_source_identify(s, err) != 0) {
        lb_source_close(s);
        return NULL;
    }
    unsigned char magic[2];
    s->kind = LB_SOURCE_FILE;
    if (pread(s->fd, magic, 2, 0) == 2 && lb_source_is_gzip(magic, 2)) {
        s->kind = LB_SOURCE_GZ;
        if (lb_source_gz_start(s, NULL, 0, err) != 0) {
            lb_source_close(s);
            return NULL;
        }
    }
    return s;
}

void lb_source_stop_on(struct lb_source *s, int stop_fd)
{
    s->stop_fd = stop_fd;
}

/* ---- reading ---------------------------------------------------------------- */

static int lb_source_begin_skip(struct lb_source *s, struct lb_error *err);

/* Wait until the fd has something (or is at its end), or the stop fd is
 * readable (LB_ESTOP). Returns 0, LB_ESTOP or LB_EIO. */
static int lb_source_wait(struct lb_source *s, struct lb_error *err)
{
    struct pollfd p[2] = {{s->fd, POLLIN, 0}, {s->stop_fd, POLLIN, 0}};
    for (;;) {
        int n = poll(p, s->stop_fd >= 0 ? 2 : 1, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return lb_error_set(err, LB_EIO, "%s%spoll: %s", lb_source_pre(s), lb_source_sep(s),
                                strerror(errno));
        /* the input first: what has arrived is read before a stop is obeyed */
        if (p[0].revents != 0)
            return 0;
        return lb_error_set(err, LB_ESTOP, "%s%sa stop was requested while waiting for input",
                            lb_source_pre(s), lb_source_sep(s));
    }
}

/* Is more input there right now (no waiting)? */
static int lb_source_ready(const struct lb_source *s)
{
    struct pollfd p = {s->fd, POLLIN, 0};
    return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

/* read(2) of up to n bytes, retried on EINTR. */
static ssize_t lb_source_read1(struct lb_source *s, void *dst, size_t n, struct lb_error *err)
{
    for (;;) {
        ssize_t r = read(s->fd, dst, n);
        if (r >= 0) {
            s->raw_read += (uint64_t)r;
            return r;
        }
        if (errno != EINTR)
            return lb_error_set(err, LB_EIO, "%s%sread: %s", lb_source_pre(s), lb_source_sep(s),
                                strerror(errno));
    }
}

/* Up to n bytes of the fd: 0 at its end. An fd that waits (a pipe) is read
 * once it has something, and then only what is already there. */
static ssize_t lb_source_raw(struct lb_source *s, void *dst, size_t n, struct lb_error *err)
{
    if (!s->waits)
        return lb_source_read1(s, dst, n, err);
    int rc = lb_source_wait(s, err);
    if (rc != 0)
        return rc;
    size_t got = 0;
    do {
        ssize_t r = lb_source_read1(s, (char *)dst + got, n - got, err);
        if (r < 0)
            return got > 0 ? (ssize_t)got : r;
        if (r == 0)
            break;
        got += (size_t)r;
    } while (got < n && lb_source_ready(s));
    return (ssize_t)got;
}

/* After a member: the next one starts with the magic; anything else (or
 * nothing) ends the input, as zlib's gzread has it. Returns 0, or an error. */
static int lb_source_gz_next_member(struct lb_source *s, struct lb_error *err)
{
    struct lb_source_gz *g = s->gz;
    while (g->z.avail_in < 2 && !g->raw_eof) {
        memmove(g->in, g->z.next_in, g->z.avail_in);
        g->z.next_in = g->in;
        ssize_t r = lb_source_raw(s, g->in + g->z.avail_in, sizeof(g->in) - g->z.avail_in, err);
        if (r < 0)
            return (int)r;
        g->raw_eof = r == 0;
        g->z.avail_in += (uInt)r;
    }
    if (!lb_source_is_gzip(g->z.next_in, g->z.avail_in)) {
        g->done = 1;
        return 0;
    }
    g->member_end = 0;
    if (inflateReset(&g->z) != Z_OK)
        return lb_error_set(err, LB_EIO, "%s%sgzip: cannot start the next member", lb_source_pre(s),
                            lb_source_sep(s));
    return 0;
}

/* Up to n decompressed bytes: 0 at the end, what one raw read brought. */
static ssize_t lb_source_inflate(struct lb_source *s, char *dst, size_t n, struct lb_error *err)
{
    struct lb_source_gz *g = s->gz;
    for (;;) {
        if (g->member_end) {
            int rc = lb_source_gz_next_member(s, err);
            if (rc != 0)
                return rc;
        }
        if (g->done)
            return 0;
        if (g->z.avail_in == 0 && !g->raw_eof) {
            ssize_t r = lb_source_raw(s, g->in, sizeof(g->in), err);
            if (r < 0)
                return r;
            g->raw_eof = r == 0;
            g->z.next_in = g->in;
            g->z.avail_in = (uInt)r;
        }
        g->z.next_out = (unsigned char *)dst;
        g->z.avail_out = (uInt)(n > (1u << 30) ? (1u << 30) : n);
        uInt room = g->z.avail_out;
        int zr = inflate(&g->z, Z_NO_FLUSH);
        size_t got = room - g->z.avail_out;
        if (zr == Z_STREAM_END)
            g->member_end = 1;
        else if (zr != Z_OK && zr != Z_BUF_ERROR)
            return lb_error_set(err, LB_EIO, "%s%sgzip: %s", lb_source_pre(s), lb_source_sep(s),
                                zr == Z_MEM_ERROR  ? "out of memory"
                                : g->z.msg != NULL ? g->z.msg
                                                   : "compressed data error");
        if (got > 0)
            return (ssize_t)got;
        /* nothing more will come, and the member is not finished */
        if (g->raw_eof && !g->member_end && (g->z.avail_in == 0 || zr == Z_BUF_ERROR))
            return lb_error_set(err, LB_EIO, "%s%sgzip: unexpected end of file", lb_source_pre(s),
                                lb_source_sep(s));
    }
}

/* Stdin's first read: gzip or not is told by its first two bytes. At most
 * LB_SOURCE_ZIN bytes are read, so that gzip's fit its input buffer. */
static ssize_t lb_source_sniff(struct lb_source *s, char *dst, size_t n, struct lb_error *err)
{
    size_t got = 0, most = n < LB_SOURCE_ZIN ? n : LB_SOURCE_ZIN;
    while (got < 2 && got < most) {
        ssize_t r = lb_source_raw(s, dst + got, most - got, err);
        if (r < 0 && got == 0)
            return r; /* nothing consumed: the next read looks again */
        if (r <= 0)
            break; /* the end, or an error after one byte: plain */
        got += (size_t)r;
    }
    s->sniffed = 1;
    if (!lb_source_is_gzip((const unsigned char *)dst, got))
        return (ssize_t)got;
    int rc = lb_source_gz_start(s, dst, got, err);
    return rc != 0 ? rc : lb_source_inflate(s, dst, n, err);
}

static ssize_t lb_source_read(struct lb_source *s, char *dst, size_t n, struct lb_error *err)
{
    if (s->kind == LB_SOURCE_STDIN && !s->sniffed)
        return lb_source_sniff(s, dst, n, err);
    if (s->gz != NULL)
        return lb_source_inflate(s, dst, n, err);
    return lb_source_raw(s, dst, n, err);
}

long lb_source_fill(struct lb_source *s, struct lb_error *err)
{
    if (s->skip_pending) {
        int rc = lb_source_begin_skip(s, err);
        if (rc != 0)
            return rc;
    }
    /* Lines handed out so far are dropped: the caller has sent them. */
    if (s->start > 0) {
        memmove(s->buf, s->buf + s->start, s->end - s->start);
        s->base += s->start;
        s->end -= s->start;
        s->scan -= s->start < s->scan ? s->start : s->scan;
        s->start = 0;
        s->scan = s->scan > s->end ? s->end : s->scan;
    }
    /* A small-start buffer doubles when it is full (a line longer than it)
     * or when the last read filled it (input comes fast: read more at once). */
    if (s->cap < s->cap_max && (s->end == s->cap || s->last_full)) {
        size_t cap = s->cap * 2 < s->cap_max ? s->cap * 2 : s->cap_max;
        char *b = realloc(s->buf, cap);
        if (b == NULL && s->end == s->cap)
            return lb_error_set(err, LB_ENOMEM, "out of memory for a %zu-byte buffer", cap);
        if (b != NULL) {
            s->buf = b;
            s->cap = cap;
        }
    }
    size_t room = s->cap - s->end;
    if (room > LB_SOURCE_CHUNK)
        room = LB_SOURCE_CHUNK;
    if (room == 0)
        return 0; /* cannot happen: next() skips a line before the buffer fills */
    ssize_t r = lb_source_read(s, s->buf + s->end, room, err);
    if (r < 0)
        return (long)r;
    s->last_full = (size_t)r == room;
    if (r == 0) {
        s->eof = 1;
        return 0;
    }
    /* Keep the first bytes for fingerprints of streams we cannot pread. */
    uint64_t at = s->base + s->end;
    if (s->kind != LB_SOURCE_FILE && at < LB_FP_LEN) {
        size_t take = LB_FP_LEN - (size_t)at;
        if (take > (size_t)r)
            take = (size_t)r;
        memcpy(s->head + at, s->buf + s->end, take);
        s->head_len = (size_t)at + take;
    }
    s->end += (size_t)r;
    s->eof = 0;
    return (long)r;
}

/* Keep up to LB_SOURCE_RAW_MAX bytes of a line being skipped. */
static void lb_source_keep_head(struct lb_source *s, const char *p, size_t n)
{
    size_t room = LB_SOURCE_RAW_MAX - s->long_n;
    if (n > room)
        n = room;
    memcpy(s->long_head + s->long_n, p, n);
    s->long_n += n;
}

/* Start skipping the too-long line at start: called from fill, that is after
 * the caller has sent its batch, because the head buffer may still hold the
 * previous too-long line returned in that batch. */
static int lb_source_begin_skip(struct lb_source *s, struct lb_error *err)
{
    if (s->long_head == NULL && (s->long_head = malloc(LB_SOURCE_RAW_MAX)) == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    s->long_n = 0;
    lb_source_keep_head(s, s->buf + s->start, s->end - s->start);
    s->long_off = s->base + s->start;
    s->long_len = s->end - s->start;
    s->skipping = 1;
    s->skip_pending = 0;
    s->start = s->scan = s->end;
    return 0;
}

int lb_source_next(struct lb_source *s, struct lb_line *line)
{
    if (s->skipping) {
        char *nl = memchr(s->buf + s->start, '\n', s->end - s->start);
        size_t k = nl ? (size_t)(nl - (s->buf + s->start)) : s->end - s->start;
        lb_source_keep_head(s, s->buf + s->start, k);
        s->long_len += k;
        if (nl == NULL) {
            s->start = s->scan = s->end;
            return 0;
        }
        s->start = s->scan = k + 1 + s->start;
        s->skipping = 0;
        line->p = s->long_head;
        line->n = s->long_n;
        line->full_len = s->long_len;
        line->off = s->long_off;
        line->end = s->base + s->start;
        line->too_long = 1;
        return 1;
    }
    size_t avail = s->end - s->start;
    char *from = s->buf + s->scan;
    char *nl = memchr(from, '\n', s->end - s->scan);
    if (nl == NULL) {
        s->scan = s->end;
        /* Too long to keep: the next fill keeps its head and skips the rest. */
        if (avail > s->max_line)
            s->skip_pending = 1;
        return 0;
    }
    size_t len = (size_t)(nl - (s->buf + s->start));
    line->p = s->buf + s->start;
    line->n = len;
    line->full_len = len;
    line->off = s->base + s->start;
    line->too_long = len > s->max_line;
    if (line->too_long && line->n > LB_SOURCE_RAW_MAX)
        line->n = LB_SOURCE_RAW_MAX;
    s->start += len + 1;
    s->scan = s->start;
    line->end = s->base + s->start;
    return 1;
}

void lb_source_shrink(struct lb_source *s)
{
    if (s->cap_min == 0 || s->skipping)
        return;
    if (s->long_head != NULL) {
        free(s->long_head);
        s->long_head = NULL;
    }
    s->last_full = 0;
    if (s->cap <= s->cap_min || s->end - s->start > s->cap_min / 2)
        return;
    if (s->start > 0) {
        memmove(s->buf, s->buf + s->start, s->end - s->start);
        s->base += s->start;
        s->end -= s->start;
        s->scan = s->scan > s->start ? s->scan - s->start : 0;
        s->start = 0;
    }
    char *b = realloc(s->buf, s->cap_min);
    if (b != NULL) { /* else keep the larger buffer: nothing is lost */
        s->buf = b;
        s->cap = s->cap_min;
    }
}

int lb_source_take_partial(struct lb_source *s, struct lb_line *line)
{
    s->skip_pending = 0; /* still whole in the buffer: taken below as too_long */
    if (s->skipping) {
        line->p = s->long_head;
        line->n = s->long_n;
        line->full_len = s->long_len + (s->end - s->start);
        line->off = s->long_off;
        s->start = s->scan = s->end;
        s->skipping = 0;
        line->end = s->base + s->end;
        line->too_long = 1;
        return 1;
    }
    if (s->end == s->start)
        return 0;
    size_t len = s->end - s->start;
    line->p = s->buf + s->start;
    line->n = len;
    line->full_len = len;
    line->off = s->base + s->start;
    line->too_long = len > s->max_line;
    if (line->too_long && line->n > LB_SOURCE_RAW_MAX)
        line->n = LB_SOURCE_RAW_MAX;
    s->start = s->scan = s->end;
    line->end = s->base + s->end;
    return 1;
}

uint64_t lb_source_pending(const struct lb_source *s)
{
    if (s->skipping)
        return s->long_len + (s->end - s->start);
    return s->end - s->start;
}

uint64_t lb_source_offset(const struct lb_source *s)
{
    return s->skipping ? s->long_off : s->base + s->start;
}

int lb_source_skip_to(struct lb_source *s, uint64_t off, struct lb_error *err)
{
    if (s->kind == LB_SOURCE_FILE) {
        if (lseek(s->fd, (off_t)off, SEEK_SET) < 0)
            return lb_error_set(err, LB_EIO, "%s%slseek: %s", lb_source_pre(s), lb_source_sep(s),
                                strerror(errno));
        s->base = off;
        s->start = s->scan = s->end = 0;
        s->skipping = 0;
        return 0;
    }
    while (lb_source_offset(s) < off) {
        if (s->start == s->end) {
            long r = lb_source_fill(s, err);
            if (r < 0)
                return (int)r;
            if (r == 0)
                return lb_error_set(err, LB_EIO, "%s%sinput ends at byte %llu, before %llu",
                                    lb_source_pre(s), lb_source_sep(s),
                                    (unsigned long long)lb_source_offset(s),
                                    (unsigned long long)off);
        }
        uint64_t want = off - (s->base + s->start);
        size_t have = s->end - s->start;
        s->start += want < have ? (size_t)want : have;
        s->scan = s->start;
    }
    return 0;
}

/* ---- identity ---------------------------------------------------------------- */

void lb_fp_hex(const void *p, size_t n, char hex[LB_FP_HEX])
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    for (int i = 15; i >= 0; i--) {
        hex[i] = digits[h & 15];
        h >>= 4;
    }
    hex[16] = '\0';
}

int lb_source_fingerprint(struct lb_source *s, uint64_t len, char hex[LB_FP_HEX])
{
    size_t want = len < LB_FP_LEN ? (size_t)len : LB_FP_LEN;
    if (s->kind == LB_SOURCE_FILE) {
        char tmp[LB_FP_LEN];
        size_t got = 0;
        while (got < want) {
            ssize_t r = pread(s->fd, tmp + got, want - got, (off_t)got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return LB_EIO;
            got += (size_t)r;
        }
        lb_fp_hex(tmp, want, hex);
        return 0;
    }
    /* .gz and stdin: the head is captured as the stream is read; read ahead
     * (without consuming) when it is not there yet. */
    while (s->head_len < want && s->base == 0) {
        long r = lb_source_fill(s, NULL);
        if (r <= 0)
            break;
    }
    if (s->head_len < want)
        return LB_EIO;
    lb_fp_hex(s->head, want, hex);
    return 0;
}

enum lb_source_kind lb_source_kind(const struct lb_source *s)
{
    return s->kind;
}

int lb_source_fd(const struct lb_source *s)
{
    return s->fd;
}

dev_t lb_source_dev(const struct lb_source *s)
{
    return s->dev;
}

ino_t lb_source_ino(const struct lb_source *s)
{
    return s->ino;
}

long long lb_source_size(const struct lb_source *s)
{
    struct stat st;
    if (s->kind != LB_SOURCE_FILE || fstat(s->fd, &st) != 0)
        return -1;
    return (long long)st.st_size;
}

long long lb_source_raw_pos(const struct lb_source *s)
{
    if (s->gz != NULL) /* the compressed bytes inflated so far */
        return (long long)(s->raw_read - s->gz->z.avail_in);
    return (long long)(s->base + s->end);
}

long long lb_source_raw_size(const struct lb_source *s)
{
    struct stat st;
    if (s->kind == LB_SOURCE_STDIN || fstat(s->fd, &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    return (long long)st.st_size;
}
