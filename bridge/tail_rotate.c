/*
 * tail_rotate.c - the rotation finder: where did the generation of a file
 * that the checkpoint describes go?
 *
 * Rotation moves the bytes a checkpoint points into away from the live path:
 * rename (app.log -> app.log.1: same inode), copytruncate (a copy with a new
 * inode, and the live file cut to 0), or compression (app.log.1.gz). The
 * checkpoint knows the generation's dev/inode and the fingerprint of its
 * first min(off, 1 KiB) bytes, so we look in the same directory for the
 * inode first (and check the fingerprint, since inodes are reused), then for
 * any file whose first bytes match.
 *
 * When the file was rotated more than once before we saw it (while we were
 * stopped, or faster than we handled the events), the generations in between
 * are the rotated files born between the one we knew and the new one: birth
 * times (statx) order them.
 */
#include "tail_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct lb_rot_cand {
    char *name;
    struct stat st;
    int prefix; /* the name starts with the live file's name */
};

static int lb_rot_fp_plain(int fd, size_t len, char hex[LB_FP_HEX])
{
    char tmp[LB_FP_LEN];
    size_t got = 0;
    if (len > LB_FP_LEN)
        len = LB_FP_LEN;
    while (got < len) {
        ssize_t r = pread(fd, tmp + got, len - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    lb_fp_hex(tmp, len, hex);
    return 0;
}

static int lb_rot_is_gz(int fd)
{
    unsigned char m[2];
    return pread(fd, m, 2, 0) == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

/* Open dir/name as a plain file and check it against w. */
static int lb_rot_try_plain(const char *dir, const struct lb_rot_cand *c,
                            const struct lb_rot_want *w, size_t max_line, struct lb_rot_found *out)
{
    snprintf(out->path, sizeof(out->path), "%s/%s", dir, c->name);
    int fd = open(out->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    char hex[LB_FP_HEX];
    /* Check the file we opened, not the name we listed: it may have moved. */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < w->off ||
        st.st_dev != c->st.st_dev || st.st_ino != c->st.st_ino || lb_rot_is_gz(fd) ||
        (w->fp_len > 0 && (lb_rot_fp_plain(fd, w->fp_len, hex) != 0 || strcmp(hex, w->fp) != 0))) {
        close(fd);
        return 0;
    }
    out->s = lb_source_from_fd(fd, max_line, NULL);
    if (out->s == NULL)
        return 0;
    out->gz = 0;
    out->mtime = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
    out->dev = (unsigned long long)st.st_dev;
    out->ino = (unsigned long long)st.st_ino;
    out->size = (long long)st.st_size;
    return 1;
}

static int lb_rot_try_gz(const char *dir, const struct lb_rot_cand *c, const struct lb_rot_want *w,
                         size_t max_line, struct lb_rot_found *out)
{
    snprintf(out->path, sizeof(out->path), "%s/%s", dir, c->name);
    struct lb_source *s = lb_source_open(out->path, max_line, NULL);
    if (s == NULL)
        return 0;
    char hex[LB_FP_HEX];
    if (lb_source_kind(s) != LB_SOURCE_GZ || lb_source_fingerprint(s, w->fp_len, hex) != 0 ||
        strcmp(hex, w->fp) != 0) {
        lb_source_close(s);
        return 0;
    }
    out->s = s;
    out->gz = 1;
    out->mtime = (double)c->st.st_mtim.tv_sec + (double)c->st.st_mtim.tv_nsec / 1e9;
    out->dev = (unsigned long long)c->st.st_dev;
    out->ino = (unsigned long long)c->st.st_ino;
    out->size = (long long)c->st.st_size;
    return 1;
}

/* Names starting with the live name first, then the newest: the most likely
 * copy of a just-rotated file. */
static int lb_rot_cmp(const void *a, const void *b)
{
    const struct lb_rot_cand *x = a, *y = b;
    if (x->prefix != y->prefix)
        return y->prefix - x->prefix;
    if (x->st.st_mtim.tv_sec != y->st.st_mtim.tv_sec)
        return x->st.st_mtim.tv_sec < y->st.st_mtim.tv_sec ? 1 : -1;
    if (x->st.st_mtim.tv_nsec != y->st.st_mtim.tv_nsec)
        return x->st.st_mtim.tv_nsec < y->st.st_mtim.tv_nsec ? 1 : -1;
    return strcmp(x->name, y->name);
}

int lb_rot_find(const char *dir, const char *base, const struct lb_rot_want *w, size_t max_line,
                struct lb_rot_found *out)
{
    memset(out, 0, sizeof(*out));
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct lb_rot_cand *c = NULL;
    size_t n = 0, cap = 0;
    size_t blen = strlen(base);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (w->skip && (unsigned long long)st.st_dev == w->skip_dev &&
            (unsigned long long)st.st_ino == w->skip_ino)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            struct lb_rot_cand *x = realloc(c, nc * sizeof(*x));
            if (x == NULL)
                break;
            c = x;
            cap = nc;
        }
        c[n].name = strdup(de->d_name);
        if (c[n].name == NULL)
            break;
        c[n].st = st;
        c[n].prefix = strncmp(de->d_name, base, blen) == 0;
        n++;
    }
    closedir(d);

    int found = 0;
    /* 1. the same inode (rename rotation; fingerprint guards inode reuse) */
    for (size_t i = 0; w->by_inode && !found && i < n; i++)
        if ((unsigned long long)c[i].st.st_dev == w->dev &&
            (unsigned long long)c[i].st.st_ino == w->ino)
            found = lb_rot_try_plain(dir, &c[i], w, max_line, out);
    if (!found && w->fp_len > 0) {
        if (n > 1)
            qsort(c, n, sizeof(*c), lb_rot_cmp);
        /* 2. a plain file with the same first bytes (copytruncate's copy) */
        for (size_t i = 0; !found && i < n; i++)
            if ((uint64_t)c[i].st.st_size >= w->off && (uint64_t)c[i].st.st_size >= w->fp_len)
                found = lb_rot_try_plain(dir, &c[i], w, max_line, out);
        /* 3. a compressed copy of it, named after the live file */
        for (size_t i = 0; !found && i < n; i++)
            if (c[i].prefix)
                found = lb_rot_try_gz(dir, &c[i], w, max_line, out);
    }
    for (size_t i = 0; i < n; i++)
        free(c[i].name);
    free(c);
    return found;
}

double lb_rot_btime(int fd)
{
    struct statx sx;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &sx) != 0 || !(sx.stx_mask & STATX_BTIME) ||
        sx.stx_btime.tv_sec == 0)
        return -1;
    return (double)sx.stx_btime.tv_sec + (double)sx.stx_btime.tv_nsec / 1e9;
}

struct lb_rot_born {
    struct lb_rot_found f;
    double btime;
};

static int lb_rot_born_cmp(const void *a, const void *b)
{
    const struct lb_rot_born *x = a, *y = b;
    if (x->btime != y->btime)
        return x->btime < y->btime ? -1 : 1;
    /* born in the same clock tick: the one written last is the newer */
    if (x->f.mtime != y->f.mtime)
        return x->f.mtime < y->f.mtime ? -1 : 1;
    return x->f.ino < y->f.ino ? -1 : x->f.ino > y->f.ino;
}

size_t lb_rot_between(const char *dir, const char *base, double after, double before,
                      int (*skip)(void *ctx, unsigned long long dev, unsigned long long ino),
                      void *ctx, size_t max_line, struct lb_rot_found **out)
{
    *out = NULL;
    if (after <= 0)
        return 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct lb_rot_born *v = NULL;
    size_t n = 0, cap = 0, blen = strlen(base);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, base, blen) != 0 || de->d_name[blen] == '\0')
            continue;
        int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
            continue;
        struct stat st;
        double bt = lb_rot_btime(fd);
        /* Inclusive bounds: file times come from a coarse clock (a few ms),
         * so two rotations in a row can share one; the files we hold are
         * left out by identity. */
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || bt < after ||
            (before > 0 && bt > before) || lb_rot_is_gz(fd) ||
            skip(ctx, (unsigned long long)st.st_dev, (unsigned long long)st.st_ino)) {
            close(fd);
            continue;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            struct lb_rot_born *x = realloc(v, nc * sizeof(*x));
            if (x == NULL) {
                close(fd);
                break;
            }
            v = x;
            cap = nc;
        }
        struct lb_rot_born *b = &v[n];
        memset(b, 0, sizeof(*b));
        b->f.s = lb_source_from_fd(fd, max_line, NULL);
        if (b->f.s == NULL)
            continue;
        snprintf(b->f.path, sizeof(b->f.path), "%s/%s", dir, de->d_name);
        b->f.mtime = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
        b->f.dev = (unsigned long long)st.st_dev;
        b->f.ino = (unsigned long long)st.st_ino;
        b->f.size = (long long)st.st_size;
        b->btime = bt;
        n++;
    }
    closedir(d);
    if (n == 0) {
        free(v);
        return 0;
    }
    qsort(v, n, sizeof(*v), lb_rot_born_cmp);
    struct lb_rot_found *f = malloc(n * sizeof(*f));
    if (f == NULL) {
        for (size_t i = 0; i < n; i++)
            lb_source_close(v[i].f.s);
        free(v);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        f[i] = v[i].f;
    free(v);
    *out = f;
    return n;
}
