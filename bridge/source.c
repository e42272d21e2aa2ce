/*
 * source.c - one input file: identity, reading in large chunks, line splitting.
 *
 * The buffer holds at most max_line bytes of an unfinished line plus one read
 * chunk, so memory is bounded by the line limit whatever the file size. A
 * line longer than max_line is not kept: its first LB_SOURCE_RAW_MAX bytes go
 * to a side buffer (for the DLQ) and the rest is skipped up to its '\n'.
 */
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define LB_SOURCE_CHUNK (256 * 1024)

struct lb_source {
    enum lb_source_kind kind;
    char *name; /* the path as given (or "stdin"), for messages; NULL from an fd */
    int fd;
    gzFile gz;
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
    if (s->gz != NULL)
        gzclose(s->gz); /* closes fd too */
    else if (s->fd >= 0 && s->kind != LB_SOURCE_STDIN)
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
        s->kind = LB_SOURCE_STDIN;
        s->fd = 0;
        /* zlib's transparent mode passes plain text through unchanged. gzdopen
         * owns the dup only when it succeeds: a failure leaves it to us. */
        int fd = dup(0);
        if (fd < 0) {
            lb_error_set(err, LB_EIO, "stdin: dup: %s", strerror(errno));
            lb_source_close(s);
            return NULL;
        }
        s->gz = gzdopen(fd, "rb");
        if (s->gz == NULL) {
            close(fd);
            lb_source_close(s);
            lb_error_set(err, LB_EIO, "stdin: cannot read (gzdopen failed: out of memory?)");
            return NULL;
        }
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
    if (pread(s->fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        s->kind = LB_SOURCE_GZ;
        int fd = s->fd;
        s->gz = gzdopen(fd, "rb");
        if (s->gz == NULL) { /* fd is still s->fd: lb_source_close closes it */
            lb_error_set(err, LB_EIO, "%s: cannot open gzip stream", path);
            lb_source_close(s);
            return NULL;
        }
        gzbuffer(s->gz, 128 * 1024);
    } else {
        s->kind = LB_SOURCE_FILE;
    }
    return s;
}

/* ---- reading ---------------------------------------------------------------- */

static int lb_source_begin_skip(struct lb_source *s, struct lb_error *err);

static ssize_t lb_source_read(struct lb_source *s, char *dst, size_t n, struct lb_error *err)
{
    if (s->gz != NULL) {
        int r = gzread(s->gz, dst, (unsigned)(n > (1u << 30) ? (1u << 30) : n));
        if (r < 0) {
            int zerr;
            const char *m = gzerror(s->gz, &zerr);
            return lb_error_set(err, LB_EIO, "%s%sgzip: %s", lb_source_pre(s), lb_source_sep(s), m);
        }
        if (r == 0) {
            int zerr;
            const char *m = gzerror(s->gz, &zerr);
            if (zerr != Z_OK)
                return lb_error_set(err, LB_EIO, "%s%sgzip: %s", lb_source_pre(s), lb_source_sep(s),
                                    m);
        }
        return r;
    }
    for (;;) {
        ssize_t r = read(s->fd, dst, n);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return lb_error_set(err, LB_EIO, "%s%sread: %s", lb_source_pre(s), lb_source_sep(s),
                                strerror(errno));
    }
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
    if (s->gz != NULL)
        return (long long)gzoffset(s->gz);
    return (long long)(s->base + s->end);
}

long long lb_source_raw_size(const struct lb_source *s)
{
    struct stat st;
    if (s->kind == LB_SOURCE_STDIN || fstat(s->fd, &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    return (long long)st.st_size;
}
