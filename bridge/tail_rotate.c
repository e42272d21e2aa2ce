/*
 * tail_rotate.c - the rotation finder and the rotation state of a route.
 *
 * Rotation moves the bytes a checkpoint points into away from the live path:
 * rename (app.log -> app.log.1: same inode), copytruncate (a copy with a new
 * inode, and the live file cut to 0), compression (app.log.1.gz), or a
 * symlink switched to a new target (rotatelogs -l). The checkpoint knows the
 * generation's identity: dev/inode and the fingerprint of its first
 * min(off, 1 KiB) bytes, which together (never a name, never an inode alone:
 * inodes are reused) say which file it is.
 *
 * When the file was rotated more than once before we saw it (while we were
 * stopped, or faster than we handled the events), the generations in
 * between are the files of the route's family born after the checkpointed
 * one and not after the file at the path: birth times (statx; for gzip,
 * whose birth is the compression, the modification time that gzip keeps)
 * order them.
 *
 * The search races the rotation it looks for: logrotate renames app.log.N to
 * app.log.N+1 (every N) just as tail restarts or notices a truncation. A
 * listing of a directory that is renamed in meanwhile may name a file that
 * has since moved, or miss a file altogether (POSIX leaves unspecified
 * whether readdir returns an entry renamed during the listing, and glibc
 * returns the names of its first getdents); a name listed may be another
 * file by the time it is opened. Either would drop a generation from the
 * chain, and with it every line it holds. So each search lists the
 * directories twice and takes every file either listing saw; when the two
 * disagree (a file under another name, a name on another file) or a listed
 * name no longer leads to its file, the search is made again, a moment
 * later, until a rotation going on meanwhile is over (at most
 * LB_ROT_SEARCHES times; the last one is taken as it is).
 */
#include "tail_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LB_ROT_SEARCHES 20 /* searches, at most, while files move under them */
#define LB_ROT_PAUSE_MS 1  /* between two: a rotation's renames take a moment */

/* A search found a listed name leading to another file, or to none. */
#define LB_ROT_MOVED (-1)

struct lb_rot_cand {
    char *path;
    const char *name;
    struct stat st;
    int family;
    int gz;
    double key;
    int taken; /* the checkpointed one, or left out */
};

static double lb_rot_ts(const struct timespec *t)
{
    return (double)t->tv_sec + (double)t->tv_nsec / 1e9;
}

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

/* Compressed in a form we cannot read (xz, bzip2, zstd, lz4, zip): never
 * taken for lines. */
static int lb_rot_is_foreign(int fd)
{
    static const struct {
        const char *m;
        size_t n;
    } magic[] = {{"\xfd"
                  "7zXZ",
                  5},
                 {"BZh", 3},
                 {"\x28\xb5\x2f\xfd", 4},
                 {"\x04\x22\x4d\x18", 4},
                 {"PK\x03\x04", 4}};
    unsigned char m[8];
    ssize_t r = pread(fd, m, sizeof(m), 0);
    for (size_t i = 0; r > 0 && i < sizeof(magic) / sizeof(magic[0]); i++)
        if ((size_t)r >= magic[i].n && memcmp(m, magic[i].m, magic[i].n) == 0)
            return 1;
    return 0;
}

void lb_rot_stem(const char *name, char *out, size_t cap)
{
    size_t n = strcspn(name, ".");
    if (n == 0)
        n = strlen(name);
    snprintf(out, cap, "%.*s", (int)n, name);
}

static int lb_rot_family(const struct lb_rot_query *q, const char *name)
{
    for (size_t i = 0; i < q->nstems; i++) {
        size_t n = strlen(q->stems[i]);
        if (n > 0 && strncmp(name, q->stems[i], n) == 0 &&
            (name[n] == '\0' || !isalnum((unsigned char)name[n])))
            return 1;
    }
    return 0;
}

/* Open c as a plain file and check it against id (fp_len bytes, off): 1,
 * 0 (not it), or LB_ROT_MOVED (its name leads to another file now, or to
 * none). */
static int lb_rot_open_plain(const struct lb_rot_cand *c, const struct lb_rot_ident *id,
                             size_t max_line, struct lb_rot_found *out)
{
    int fd = open(c->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? LB_ROT_MOVED : 0;
    struct stat st;
    char hex[LB_FP_HEX];
    if (fstat(fd, &st) != 0) {
        close(fd);
        return 0;
    }
    /* Check the file we opened, not the name we listed: it may have moved. */
    if (st.st_dev != c->st.st_dev || st.st_ino != c->st.st_ino) {
        close(fd);
        return LB_ROT_MOVED;
    }
    if (!S_ISREG(st.st_mode) || lb_rot_is_gz(fd) ||
        (id != NULL && ((uint64_t)st.st_size < id->off ||
                        (id->fp_len > 0 && (lb_rot_fp_plain(fd, id->fp_len, hex) != 0 ||
                                            strcmp(hex, id->fp) != 0))))) {
        close(fd);
        return 0;
    }
    memset(out, 0, sizeof(*out));
    out->s = lb_source_from_fd(fd, max_line, NULL);
    if (out->s == NULL)
        return 0;
    snprintf(out->path, sizeof(out->path), "%s", c->path);
    out->mtime = lb_rot_ts(&st.st_mtim);
    out->key = c->key;
    out->dev = (unsigned long long)st.st_dev;
    out->ino = (unsigned long long)st.st_ino;
    out->size = (long long)st.st_size;
    return 1;
}

/* As lb_rot_open_plain, for a .gz (the fingerprint of what it holds). */
static int lb_rot_open_gz(const struct lb_rot_cand *c, const struct lb_rot_ident *id,
                          size_t max_line, struct lb_rot_found *out)
{
    struct stat st;
    if (stat(c->path, &st) != 0)
        return errno == ENOENT ? LB_ROT_MOVED : 0;
    if (st.st_dev != c->st.st_dev || st.st_ino != c->st.st_ino)
        return LB_ROT_MOVED;
    struct lb_source *s = lb_source_open(c->path, max_line, NULL);
    if (s == NULL)
        return 0;
    /* (moved between the stat and the open) */
    if (lb_source_dev(s) != c->st.st_dev || lb_source_ino(s) != c->st.st_ino) {
        lb_source_close(s);
        return LB_ROT_MOVED;
    }
    char hex[LB_FP_HEX];
    if (lb_source_kind(s) != LB_SOURCE_GZ ||
        (id != NULL &&
         (lb_source_fingerprint(s, id->fp_len, hex) != 0 || strcmp(hex, id->fp) != 0))) {
        lb_source_close(s);
        return 0;
    }
    memset(out, 0, sizeof(*out));
    out->s = s;
    out->gz = 1;
    snprintf(out->path, sizeof(out->path), "%s", c->path);
    out->mtime = lb_rot_ts(&c->st.st_mtim);
    out->key = c->key;
    out->dev = (unsigned long long)c->st.st_dev;
    out->ino = (unsigned long long)c->st.st_ino;
    out->size = (long long)c->st.st_size;
    return 1;
}

static void lb_rot_cands_free(struct lb_rot_cand *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(c[i].path);
    free(c);
}

/* The index of the file (dev, ino) in c, or n. */
static size_t lb_rot_find_ino(const struct lb_rot_cand *c, size_t n, const struct stat *st)
{
    size_t i = 0;
    while (i < n && (c[i].st.st_dev != st->st_dev || c[i].st.st_ino != st->st_ino))
        i++;
    return i;
}

/* Append e to c (its path is then c's). 0, or -1 out of memory. */
static int lb_rot_push(struct lb_rot_cand **c, size_t *n, size_t *cap, const struct lb_rot_cand *e)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 32;
        struct lb_rot_cand *x = realloc(*c, nc * sizeof(*x));
        if (x == NULL)
            return -1;
        *c = x;
        *cap = nc;
    }
    (*c)[(*n)++] = *e;
    return 0;
}

/* One listing of the directories: every regular file, once per inode, with
 * its path and what fstatat said of it then. Returns the count (*cap: the
 * room of *out). */
static size_t lb_rot_scan(const struct lb_rot_query *q, struct lb_rot_cand **out, size_t *cap)
{
    struct lb_rot_cand *c = NULL;
    size_t n = 0;
    *cap = 0;
    for (size_t k = 0; k < q->ndirs; k++) {
        DIR *d = opendir(q->dirs[k]);
        if (d == NULL)
            continue;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            struct lb_rot_cand e;
            memset(&e, 0, sizeof(e));
            if (fstatat(dirfd(d), de->d_name, &e.st, AT_SYMLINK_NOFOLLOW) != 0 ||
                !S_ISREG(e.st.st_mode) || lb_rot_find_ino(c, n, &e.st) < n)
                continue;
            size_t plen = strlen(q->dirs[k]) + strlen(de->d_name) + 2;
            if ((e.path = malloc(plen)) == NULL)
                break;
            snprintf(e.path, plen, "%s/%s", q->dirs[k], de->d_name);
            e.name = e.path + strlen(q->dirs[k]) + 1;
            if (lb_rot_push(&c, &n, cap, &e) != 0) {
                free(e.path);
                break;
            }
        }
        closedir(d);
    }
    *out = c;
    return n;
}

/* Do two listings agree: no file under another name, no name on another
 * file? (A file in one of them only was created or deleted in between, or
 * missed by the other: the union takes it.) */
static int lb_rot_agree(const struct lb_rot_cand *a, size_t na, const struct lb_rot_cand *b,
                        size_t nb)
{
    for (size_t i = 0; i < na; i++) {
        size_t j = lb_rot_find_ino(b, nb, &a[i].st);
        if (j < nb && strcmp(a[i].path, b[j].path) != 0)
            return 0;
        for (j = 0; j < nb; j++)
            if (strcmp(a[i].path, b[j].path) == 0 &&
                (a[i].st.st_dev != b[j].st.st_dev || a[i].st.st_ino != b[j].st.st_ino))
                return 0;
    }
    return 1;
}

/* Every regular file of the directories, once per inode: the union of two
 * listings (each file under the name the second one saw, if it saw it),
 * with what the search needs of each. *moved: the listings disagree, or a
 * name no longer leads to its file (see the top of this file). */
static size_t lb_rot_list(const struct lb_rot_query *q, struct lb_rot_cand **out, int *moved)
{
    size_t cap_a, cap, na, n;
    struct lb_rot_cand *a, *c;
    na = lb_rot_scan(q, &a, &cap_a);
    n = lb_rot_scan(q, &c, &cap);
    *moved = !lb_rot_agree(a, na, c, n);
    for (size_t i = 0; i < na; i++)
        if (lb_rot_find_ino(c, n, &a[i].st) == n && lb_rot_push(&c, &n, &cap, &a[i]) == 0)
            a[i].path = NULL;
    lb_rot_cands_free(a, na);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct lb_rot_cand *e = &c[i];
        e->family = lb_rot_family(q, e->name);
        int fd = open(e->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        struct stat st;
        double bt = -1;
        if (fd < 0 && errno == ENOENT) {
            *moved = 1;
            free(e->path);
            continue;
        }
        if (fd >= 0 &&
            (fstat(fd, &st) != 0 || st.st_dev != e->st.st_dev || st.st_ino != e->st.st_ino)) {
            *moved = 1; /* the name is another file's now */
            close(fd);
            free(e->path);
            continue;
        }
        if (fd >= 0 && lb_rot_is_foreign(fd)) {
            close(fd);
            free(e->path);
            continue;
        }
        if (fd >= 0) {
            e->gz = lb_rot_is_gz(fd);
            bt = e->gz ? -1 : lb_rot_btime(fd);
            close(fd);
        }
        /* gzip's birth is the compression: the time it kept (the last
         * write of what it compressed) orders it instead */
        e->key = bt > 0 ? bt : lb_rot_ts(&e->st.st_mtim);
        c[k++] = *e;
    }
    *out = c;
    return k;
}

/* Newest first: the most likely copy of a just-rotated file. */
static int lb_rot_newest_cmp(const void *a, const void *b)
{
    const struct lb_rot_cand *x = *(struct lb_rot_cand *const *)a,
                             *y = *(struct lb_rot_cand *const *)b;
    if (x->family != y->family)
        return y->family - x->family;
    double mx = lb_rot_ts(&x->st.st_mtim), my = lb_rot_ts(&y->st.st_mtim);
    if (mx != my)
        return mx < my ? 1 : -1;
    return strcmp(x->name, y->name);
}

static int lb_rot_key_cmp(const void *a, const void *b)
{
    const struct lb_rot_found *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    /* born in the same clock tick: the one written last is the newer */
    if (x->mtime != y->mtime)
        return x->mtime < y->mtime ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int lb_rot_is_live(const struct lb_rot_query *q, const struct stat *st)
{
    return q->has_live && (unsigned long long)st->st_dev == q->live_dev &&
           (unsigned long long)st->st_ino == q->live_ino;
}

/* Locate the checkpointed generation among c: 1, 0 (not there), or
 * LB_ROT_MOVED (not found, and a name listed led to another file). */
static int lb_rot_locate(const struct lb_rot_query *q, struct lb_rot_cand *c, size_t n,
                         size_t max_line, struct lb_rot_found *out)
{
    const struct lb_rot_ident *id = q->ck;
    int r, moved = 0;
    /* 1. its inode, with its fingerprint (a rename keeps both) */
    for (size_t i = 0; i < n; i++)
        if ((unsigned long long)c[i].st.st_dev == id->dev &&
            (unsigned long long)c[i].st.st_ino == id->ino && !lb_rot_is_live(q, &c[i].st)) {
            if ((r = lb_rot_open_plain(&c[i], id, max_line, out)) == 1) {
                c[i].taken = 1;
                return 1;
            }
            moved |= r == LB_ROT_MOVED;
        }
    if (id->fp_len == 0)
        return moved ? LB_ROT_MOVED : 0;
    struct lb_rot_cand **v = malloc(n * sizeof(*v) + 1);
    if (v == NULL)
        return 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!lb_rot_is_live(q, &c[i].st))
            v[m++] = &c[i];
    qsort(v, m, sizeof(*v), lb_rot_newest_cmp);
    int found = 0;
    /* 2. a plain file with its first bytes (copytruncate's copy) */
    for (size_t i = 0; !found && i < m; i++)
        if (!v[i]->gz && (uint64_t)v[i]->st.st_size >= id->off &&
            (uint64_t)v[i]->st.st_size >= id->fp_len) {
            if ((r = lb_rot_open_plain(v[i], id, max_line, out)) == 1) {
                out->copy = 1;
                v[i]->taken = found = 1;
            }
            moved |= r == LB_ROT_MOVED;
        }
    /* 3. a compressed copy of it (of the family: each one is decompressed) */
    for (size_t i = 0; !found && i < m; i++)
        if (v[i]->gz && v[i]->family) {
            if ((r = lb_rot_open_gz(v[i], id, max_line, out)) == 1) {
                out->copy = 1;
                v[i]->taken = found = 1;
            }
            moved |= r == LB_ROT_MOVED;
        }
    free(v);
    return found ? 1 : moved ? LB_ROT_MOVED : 0;
}

/* Whether candidate x cannot be a generation between the checkpoint's
 * (after) and the live file (before, or <= 0: no bound): already taken,
 * not of the family, empty, the live file itself, outside the bounds (by
 * mtime when the checkpoint's generation was not found), or one the caller
 * has already read. */
static int lb_rot_not_between(const struct lb_rot_query *q, const struct lb_rot_cand *x,
                              double after, double before, int by_mtime)
{
    return x->taken || !x->family || x->st.st_size == 0 || lb_rot_is_live(q, &x->st) ||
           (by_mtime ? lb_rot_ts(&x->st.st_mtim) < after : x->key < after) ||
           (before > 0 && x->key > before) ||
           (q->skip != NULL &&
            q->skip(q->ctx, (unsigned long long)x->st.st_dev, (unsigned long long)x->st.st_ino));
}

/* A .gz among mid[0..nm) whose first bytes are those of a plain file found
 * too (in f[0..nf + nm)) is the same generation, being compressed: read
 * once, from the plain file. Closes those and returns how many are left,
 * packed in order at the start of mid. */
static size_t lb_rot_drop_compressing(struct lb_rot_found *f, size_t nf, struct lb_rot_found *mid,
                                      size_t nm)
{
    for (size_t i = 0; i < nm; i++) {
        if (!mid[i].gz)
            continue;
        char gh[LB_FP_HEX], ph[LB_FP_HEX];
        int same = 0;
        for (size_t k = 0; k < nm + nf && !same; k++) {
            struct lb_rot_found *p = &f[k];
            if (p->gz || p == &mid[i])
                continue;
            size_t len = p->size < LB_FP_LEN ? (size_t)p->size : LB_FP_LEN;
            same = lb_source_fingerprint(mid[i].s, len, gh) == 0 &&
                   lb_rot_fp_plain(lb_source_fd(p->s), len, ph) == 0 && strcmp(gh, ph) == 0;
        }
        if (same) {
            lb_source_close(mid[i].s);
            mid[i].s = NULL;
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < nm; i++)
        if (mid[i].s != NULL)
            mid[k++] = mid[i];
    return k;
}

static void lb_rot_found_free(struct lb_rot_found *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        lb_source_close(f[i].s);
    free(f);
}

/* One search: the checkpoint's generation (f[0], when found), then those of
 * the family after it (mid), each opened once. Returns their count, or,
 * unless it is the last one, LB_ROT_MOVED when files moved under it
 * (nothing is returned then). */
static long lb_rot_search(const struct lb_rot_query *q, size_t max_line, int last,
                          struct lb_rot_found **out, int *ck_found)
{
    *out = NULL;
    *ck_found = 0;
    struct lb_rot_cand *c = NULL;
    int moved;
    size_t n = lb_rot_list(q, &c, &moved);
    struct lb_rot_found *f = calloc(n + 1, sizeof(*f));
    if (f == NULL || (moved && !last)) {
        free(f);
        lb_rot_cands_free(c, n);
        return f == NULL ? 0 : LB_ROT_MOVED;
    }
    size_t nf = 0;
    double after = q->after;
    int r = q->ck != NULL ? lb_rot_locate(q, c, n, max_line, &f[0]) : 0;
    moved = r == LB_ROT_MOVED;
    if (r == 1) {
        *ck_found = 1;
        /* A .gz made by a tool that does not keep the time (logrotate pipes
         * through gzip) is younger than what followed it: the time of the
         * last commit bounds it then. */
        if (!f[0].gz || after <= 0 || f[0].key < after)
            after = f[0].key;
        nf = 1;
    }
    /* The live file born after the lower bound is the newest generation;
     * one born before it is the same inode copytruncate keeps emptying. */
    /* Not found: what was written after the last commit is newer. */
    int by_mtime = q->ck != NULL && !*ck_found;
    double before = q->has_live && q->live_key > after ? q->live_key : -1;
    struct lb_rot_found *mid = f + nf;
    size_t nm = 0;
    for (size_t i = 0; after > 0 && i < n && !(moved && !last); i++) {
        struct lb_rot_cand *x = &c[i];
        if (lb_rot_not_between(q, x, after, before, by_mtime))
            continue;
        r = x->gz ? lb_rot_open_gz(x, NULL, max_line, &mid[nm])
                  : lb_rot_open_plain(x, NULL, max_line, &mid[nm]);
        if (r == 1)
            nm++;
        moved |= r == LB_ROT_MOVED;
    }
    lb_rot_cands_free(c, n);
    if (moved && !last) {
        lb_rot_found_free(f, nf + nm);
        *ck_found = 0;
        return LB_ROT_MOVED;
    }
    nm = lb_rot_drop_compressing(f, nf, mid, nm);
    if (nm > 1)
        qsort(mid, nm, sizeof(*mid), lb_rot_key_cmp);
    if (nf + nm == 0) {
        free(f);
        return 0;
    }
    *out = f;
    return (long)(nf + nm);
}

/* See tail_int.h; a search that files moved under is made again (see the
 * top of this file). */
size_t lb_rot_chain(const struct lb_rot_query *q, size_t max_line, struct lb_rot_found **out,
                    int *ck_found)
{
    for (int k = 1;; k++) {
        long n = lb_rot_search(q, max_line, k == LB_ROT_SEARCHES, out, ck_found);
        if (n != LB_ROT_MOVED)
            return (size_t)n;
        struct timespec ts = {0, LB_ROT_PAUSE_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
}

double lb_rot_btime(int fd)
{
    struct statx sx;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &sx) != 0 || !(sx.stx_mask & STATX_BTIME) ||
        sx.stx_btime.tv_sec == 0)
        return -1;
    return (double)sx.stx_btime.tv_sec + (double)sx.stx_btime.tv_nsec / 1e9;
}

enum lb_rot_state lb_rot_next(enum lb_rot_state s, enum lb_rot_event ev, int at_path)
{
    switch (ev) {
    case LB_ROT_EV_CURRENT:
        return at_path ? LB_ROT_LIVE : LB_ROT_DRAINING;
    case LB_ROT_EV_LEFT_PATH:
        return s == LB_ROT_WAITING ? LB_ROT_WAITING : LB_ROT_DRAINING;
    case LB_ROT_EV_AT_PATH:
        return s == LB_ROT_WAITING ? LB_ROT_WAITING : LB_ROT_LIVE;
    case LB_ROT_EV_NONE:
        return LB_ROT_WAITING;
    }
    return s;
}

const char *lb_rot_state_name(enum lb_rot_state s)
{
    switch (s) {
    case LB_ROT_WAITING:
        return "waiting";
    case LB_ROT_LIVE:
        return "live";
    case LB_ROT_DRAINING:
        return "draining";
    }
    return "?";
}
