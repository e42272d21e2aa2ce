/*
 * parity_baseline.c - known, explained differences: `--baseline FILE`
 * accepts them, `--write-baseline FILE` writes every difference of a run.
 *
 * A baseline is a text file that people review and keep next to the CI job:
 *
 *   # logbridge parity baseline: accepted differences of stream {app}:events
 *   # missing_in_stream /var/log/app/app.log.1:77
 *   line 12345 9f8e7d6c5b4a3921 /var/log/app/app.log
 *   # extra_in_stream id=1750233600123-0
 *   entry 1750233600123-0
 *
 * An entry is known by its ID (unique in its stream, and kept as files
 * rotate). A file line is known by its route (src), its offset in its
 * generation and the hash of its comparable text, never by a path or a line
 * number: both change when logrotate renames the file, the three do not, and
 * a different line at the same place is not accepted by mistake. A
 * difference is accepted when every side of it is listed (a mismatch: its
 * line and its entry). Lines starting with '#' and blank lines are comments,
 * so an explanation can sit above each item.
 *
 * Memory: 9 bytes an item, in an open-addressing table of 64-bit keys.
 */
#include "parity_int.h"

#include "stream_id.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct lb_baseline {
    uint64_t *keys; /* 0 = empty */
    unsigned char *used;
    size_t cap, n;
};

static uint64_t lb_bl_line_key(const char *src, uint64_t off, uint64_t hash)
{
    uint64_t k = lb_parity_mix64(lb_parity_hash(src, strlen(src)) ^
                                 lb_parity_mix64(off + 0x9e3779b97f4a7c15ULL)) ^
                 lb_parity_mix64(hash ^ 0x6a09e667f3bcc909ULL);
    return k ? k : 1;
}

static uint64_t lb_bl_entry_key(uint64_t ms, uint64_t seq)
{
    uint64_t k = lb_parity_mix64(ms ^ 0xbb67ae8584caa73bULL) ^
                 lb_parity_mix64(lb_parity_mix64(seq + 0x3c6ef372fe94f82bULL));
    return k ? k : 1;
}

static int lb_bl_grow(struct lb_baseline *b)
{
    size_t ncap = b->cap ? b->cap * 2 : 256;
    uint64_t *k = calloc(ncap, sizeof(*k));
    unsigned char *u = calloc(ncap, 1);
    if (k == NULL || u == NULL) {
        free(k);
        free(u);
        return LB_ENOMEM;
    }
    for (size_t i = 0; i < b->cap; i++) {
        if (b->keys[i] == 0)
            continue;
        size_t j = b->keys[i] & (ncap - 1);
        while (k[j] != 0)
            j = (j + 1) & (ncap - 1);
        k[j] = b->keys[i];
        u[j] = b->used[i];
    }
    free(b->keys);
    free(b->used);
    b->keys = k;
    b->used = u;
    b->cap = ncap;
    return 0;
}

static int lb_bl_add(struct lb_baseline *b, uint64_t key)
{
    if ((b->n + 1) * 2 > b->cap && lb_bl_grow(b) != 0)
        return LB_ENOMEM;
    size_t j = key & (b->cap - 1);
    while (b->keys[j] != 0 && b->keys[j] != key)
        j = (j + 1) & (b->cap - 1);
    if (b->keys[j] == 0) {
        b->keys[j] = key;
        b->n++;
    }
    return 0;
}

/* Slot of key, or SIZE_MAX. */
static size_t lb_bl_find(const struct lb_baseline *b, uint64_t key)
{
    if (b == NULL || b->cap == 0)
        return SIZE_MAX;
    size_t j = key & (b->cap - 1);
    while (b->keys[j] != 0) {
        if (b->keys[j] == key)
            return j;
        j = (j + 1) & (b->cap - 1);
    }
    return SIZE_MAX;
}

void lb_baseline_destroy(struct lb_baseline *b)
{
    if (b == NULL)
        return;
    free(b->keys);
    free(b->used);
    free(b);
}

/* One item of a baseline line (without its '\n'): 0, or -1 with why. */
static int lb_bl_parse_item(struct lb_baseline *b, char *s, char *why, size_t cap)
{
    if (strncmp(s, "entry ", 6) == 0) {
        struct lb_sid id;
        if (lb_sid_parse(s + 6, strlen(s + 6), &id) != 0) {
            snprintf(why, cap, "expected an entry ID (ms-seq) after 'entry'");
            return -1;
        }
        return lb_bl_add(b, lb_bl_entry_key(id.ms, id.seq)) == 0 ? 0 : -2;
    }
    if (strncmp(s, "line ", 5) == 0) {
        char *p = s + 5, *end;
        errno = 0;
        unsigned long long off = strtoull(p, &end, 10);
        if (errno != 0 || end == p || *end != ' ' || *p == '-') {
            snprintf(why, cap, "expected 'line OFFSET HASH SRC'");
            return -1;
        }
        p = end + 1;
        unsigned long long h = strtoull(p, &end, 16);
        if (end != p + 16 || *end != ' ' || end[1] == '\0') {
            snprintf(why, cap, "expected 'line OFFSET HASH SRC' (HASH: 16 hex digits)");
            return -1;
        }
        return lb_bl_add(b, lb_bl_line_key(end + 1, off, h)) == 0 ? 0 : -2;
    }
    snprintf(why, cap, "expected 'line OFFSET HASH SRC', 'entry ID' or a '#' comment");
    return -1;
}

int lb_baseline_load(const char *path, struct lb_baseline **out, struct lb_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return lb_error_set(err, LB_EUSAGE, "--baseline: %s: %s", path, strerror(errno));
    struct lb_baseline *b = calloc(1, sizeof(*b));
    char *buf = NULL;
    size_t bcap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = b == NULL ? lb_error_set(err, LB_ENOMEM, "out of memory") : 0;
    while (rc == 0 && (n = getline(&buf, &bcap, f)) >= 0) {
        lineno++;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            buf[--n] = '\0';
        if (n == 0 || buf[0] == '#')
            continue;
        char why[128];
        int r = lb_bl_parse_item(b, buf, why, sizeof(why));
        if (r == -2)
            rc = lb_error_set(err, LB_ENOMEM, "out of memory for the baseline");
        else if (r != 0)
            rc = lb_error_set(err, LB_EUSAGE, "--baseline: %s:%ld: %s", path, lineno, why);
    }
    if (rc == 0 && ferror(f))
        rc = lb_error_set(err, LB_EIO, "--baseline: %s: %s", path, strerror(errno));
    free(buf);
    fclose(f);
    if (rc != 0) {
        lb_baseline_destroy(b);
        return rc;
    }
    *out = b;
    return 0;
}

uint64_t lb_baseline_size(const struct lb_baseline *b)
{
    return b != NULL ? b->n : 0;
}

uint64_t lb_baseline_unused(const struct lb_baseline *b)
{
    uint64_t u = 0;
    for (size_t i = 0; b != NULL && i < b->cap; i++)
        u += b->keys[i] != 0 && !b->used[i];
    return u;
}

int lb_parity_accepted(struct lb_parity *p, const struct lb_align_item *f,
                       const struct lb_align_item *s)
{
    struct lb_baseline *b = p->bl;
    if (b == NULL)
        return 0;
    size_t jf = SIZE_MAX, js = SIZE_MAX;
    if (f != NULL && (jf = lb_bl_find(b, lb_bl_line_key(p->pf[f->file].src, f->off, f->hash))) ==
                         SIZE_MAX)
        return 0;
    if (s != NULL && (js = lb_bl_find(b, lb_bl_entry_key(s->ms, s->seq))) == SIZE_MAX)
        return 0;
    if (jf != SIZE_MAX)
        b->used[jf] = 1;
    if (js != SIZE_MAX)
        b->used[js] = 1;
    return 1;
}

/* ---- --write-baseline ------------------------------------------------------------------------- */

/* A path or name in a comment: one line, no control bytes. */
static void lb_blw_safe(FILE *o, const char *s)
{
    for (; *s != '\0'; s++)
        fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, o);
}

int lb_parity_blw_open(struct lb_parity *p, struct lb_error *err)
{
    const char *path = p->o->write_baseline;
    if (path == NULL)
        return 0;
    if (snprintf(p->blw_tmp, sizeof(p->blw_tmp), "%s.tmp.XXXXXX", path) >=
        (int)sizeof(p->blw_tmp))
        return lb_error_set(err, LB_EUSAGE, "--write-baseline: %s: path too long", path);
    int fd = mkstemp(p->blw_tmp);
    if (fd < 0)
        return lb_error_set(err, LB_EIO, "--write-baseline: %s: %s", p->blw_tmp, strerror(errno));
    p->blw = fdopen(fd, "w");
    if (p->blw == NULL) {
        int e = errno;
        close(fd);
        unlink(p->blw_tmp);
        return lb_error_set(err, LB_EIO, "--write-baseline: %s: %s", p->blw_tmp, strerror(e));
    }
    fputs("# logbridge parity baseline: accepted differences of stream ", p->blw);
    lb_blw_safe(p->blw, p->rep.stream);
    fputs("\n# Each item accepts one difference; give the file to parity --baseline.\n"
          "# 'line OFFSET HASH SRC' is a file line (its route, offset and content hash),\n"
          "# 'entry ID' a stream entry. Add a comment above an item to say why it is accepted.\n",
          p->blw);
    return 0;
}

void lb_parity_blw_add(struct lb_parity *p, enum lb_parity_kind kind, const struct lb_align_item *f,
                       const struct lb_align_item *s)
{
    FILE *o = p->blw;
    if (o == NULL)
        return;
    fprintf(o, "# %s", lb_parity_kind_name(kind));
    if (f != NULL) {
        fputc(' ', o);
        lb_blw_safe(o, p->pf[f->file].path);
        fprintf(o, ":%" PRIu64, f->line);
    }
    if (s != NULL)
        fprintf(o, " id=%" PRIu64 "-%" PRIu64, s->ms, s->seq);
    fputc('\n', o);
    if (f != NULL) {
        const char *src = p->pf[f->file].src;
        if (strchr(src, '\n') == NULL)
            fprintf(o, "line %" PRIu64 " %016" PRIx64 " %s\n", f->off, f->hash, src);
    }
    if (s != NULL)
        fprintf(o, "entry %" PRIu64 "-%" PRIu64 "\n", s->ms, s->seq);
    p->blw_n++;
}

int lb_parity_blw_close(struct lb_parity *p, int commit, struct lb_error *err)
{
    if (p->blw == NULL)
        return 0;
    FILE *o = p->blw;
    p->blw = NULL;
    int rc = 0;
    if (commit) {
        fprintf(o, "# %" PRIu64 " difference%s\n", p->blw_n, p->blw_n == 1 ? "" : "s");
        if (fflush(o) != 0 || fsync(fileno(o)) != 0)
            rc = -1;
    }
    int e = errno;
    if (fclose(o) != 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (commit && rc == 0) {
        /* mkstemp made it 0600; a baseline is as readable as a report. */
        mode_t um = umask(0);
        umask(um);
        chmod(p->blw_tmp, 0666 & ~um);
        if (rename(p->blw_tmp, p->o->write_baseline) != 0) {
            rc = -1;
            e = errno;
        }
    }
    if (!commit || rc != 0) {
        unlink(p->blw_tmp);
        if (commit)
            return lb_error_set(err, LB_EIO, "--write-baseline: %s: %s", p->o->write_baseline,
                                strerror(e));
    }
    return 0;
}
