/*
 * tail_gen.c - the generations of a route (struct lb_gen): one inode that
 * was at the route's path, open, watched through /proc/self/fd, positioned,
 * with its first bytes kept for the checkpoint's fingerprint and for noticing
 * a truncation; the list of finished generations; and the turning of what the
 * rotation finder (tail_rotate.c) found into a queue of generations.
 * What a route does with its generations (which is current, when it changes)
 * is tail_state.c's.
 */
#include "tail_int.h"

#include "checkpoint.h"
#include "committer.h"
#include "log.h"
#include "metrics.h"
#include "redis.h"
#include "sink.h"
#include "source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define LB_TAIL_BUF_INITIAL 4096 /* per file; grows while a file is busy */
#define LB_FILE_MASK (IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF)

ssize_t lb_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* ---- generations ----------------------------------------------------------------- */

static void lb_gen_unwatch(struct lb_tail *j, struct lb_gen *g)
{
    if (g->wd < 0 || j->ws == NULL)
        return;
    struct lb_gen *head = lb_watchset_get(j->ws, g->wd, NULL);
    if (head == g) {
        if (g->wd_next == NULL)
            lb_watchset_remove(j->ws, g->wd);
        else
            lb_watchset_set(j->ws, g->wd, g->wd_next);
    } else {
        for (struct lb_gen *x = head; x != NULL; x = x->wd_next)
            if (x->wd_next == g) {
                x->wd_next = g->wd_next;
                break;
            }
    }
    g->wd = -1;
    g->wd_next = NULL;
}

void lb_gen_free(struct lb_tail *j, struct lb_gen *g)
{
    if (g == NULL)
        return;
    if (j->cm_g == g) { /* settled by the caller (committed, or given up) */
        j->cm_tf = NULL;
        j->cm_g = NULL;
    }
    lb_gen_unwatch(j, g);
    lb_source_close(g->s);
    free(g->where);
    free(g);
}

static struct lb_gen *lb_gen_new(struct lb_tfile *tf, struct lb_source *s, const char *where)
{
    struct lb_gen *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        lb_source_close(s);
        return NULL;
    }
    g->wd = -1;
    g->s = s;
    g->tf = tf;
    g->dev = g->ck_dev = (unsigned long long)lb_source_dev(s);
    g->ino = g->ck_ino = (unsigned long long)lb_source_ino(s);
    g->gz = lb_source_kind(s) == LB_SOURCE_GZ;
    g->btime = g->gz ? -1 : lb_rot_btime(lb_source_fd(s));
    g->where = strdup(where);
    return g;
}

/* Watch the inode of an open generation: through /proc/self/fd, so that it
 * is the inode we hold even if the name moved meanwhile. */
int lb_gen_watch(struct lb_tail *j, struct lb_gen *g)
{
    if (j->ws == NULL || g->gz || g->is_copy)
        return 0;
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", lb_source_fd(g->s));
    int wd;
    /* one per file and directory, one more per rotated generation held */
    size_t needed = j->nf + 1;
    for (struct lb_tdir *d = j->dirs; d != NULL; d = d->next)
        needed++;
    if (needed < lb_watchset_count(j->ws) + 1)
        needed = lb_watchset_count(j->ws) + 1;
    int rc = lb_watchset_add(j->ws, p, LB_FILE_MASK, LB_WATCH_FILE, g, needed, &wd, &j->err);
    if (rc < 0)
        return rc;
    g->wd = wd;
    if (rc == 1) {
        struct lb_gen *head = lb_watchset_get(j->ws, wd, NULL);
        if (head == NULL) {
            lb_watchset_set(j->ws, wd, g);
        } else {
            g->wd_next = head->wd_next;
            head->wd_next = g;
        }
    }
    return 0;
}

/* Open a file of a route: NULL when it is absent or not a regular file
 * (*fatal set when the process is out of file descriptors). */
struct lb_gen *lb_gen_open(struct lb_tail *j, struct lb_tfile *tf, const char *path, int *fatal)
{
    *fatal = 0;
    /* O_NONBLOCK: a FIFO at the path must not hang the job in open(2). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) {
            struct rlimit rl;
            getrlimit(RLIMIT_NOFILE, &rl);
            lb_error_set(&j->err, LB_EIO,
                         "open %s: %s: this job holds one descriptor per followed file (%zu "
                         "files, and one per rotated generation being finished); raise the open "
                         "files limit (RLIMIT_NOFILE, now %llu: ulimit -n, or LimitNOFILE= in "
                         "the unit) to at least %zu",
                         path, strerror(errno), j->nf, (unsigned long long)rl.rlim_cur, j->nf + 64);
            *fatal = 1;
        } else if (errno != ENOENT && errno != ENOTDIR) {
            lb_warn_kv(LB_FIELDS(LB_F_STR("src", tf->src), LB_F_STR("file", path)),
                       "cannot open: %s", strerror(errno));
        }
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        lb_warn_kv(LB_FIELDS(LB_F_STR("src", tf->src), LB_F_STR("file", path)),
                   "not a regular file; not followed");
        close(fd);
        return NULL;
    }
    struct lb_error e;
    struct lb_source *s = lb_source_from_fd_small(fd, j->c->max_line, LB_TAIL_BUF_INITIAL, &e);
    if (s == NULL) {
        lb_error_set(&j->err, LB_ENOMEM, "%s", e.msg);
        *fatal = 1;
        return NULL;
    }
    struct lb_gen *g = lb_gen_new(tf, s, path);
    if (g == NULL) {
        lb_error_set(&j->err, LB_ENOMEM, "out of memory");
        *fatal = 1;
    }
    return g;
}

/* Position a generation at off (a line start) and learn its first bytes. */
int lb_gen_seek(struct lb_gen *g, uint64_t off, struct lb_error *err)
{
    if (lb_source_skip_to(g->s, off, err) != 0)
        return LB_EIO;
    if (off > 0 && !g->gz) {
        size_t want = off < LB_FP_LEN ? (size_t)off : LB_FP_LEN;
        ssize_t r = lb_pread_full(lb_source_fd(g->s), g->head, want, 0);
        g->head_n = r > 0 ? (size_t)r : 0;
    }
    return 0;
}

int lb_gen_same(const struct lb_gen *g, const struct stat *st)
{
    return g->dev == (unsigned long long)st->st_dev && g->ino == (unsigned long long)st->st_ino;
}

/* The fingerprint of the first min(off, 1 KiB) bytes, for the checkpoint. */
int lb_tail_fp(void *ctx, uint64_t off, char hex[LB_FP_HEX])
{
    struct lb_gen *g = ctx;
    if (off >= LB_FP_LEN && g->fp_cached) {
        memcpy(hex, g->fp_cache, LB_FP_HEX);
        return 0;
    }
    size_t want = off < LB_FP_LEN ? (size_t)off : LB_FP_LEN;
    if (g->head_n >= want)
        lb_fp_hex(g->head, want, hex);
    else if (lb_source_fingerprint(g->s, off, hex) != 0)
        return LB_EIO;
    if (off >= LB_FP_LEN) {
        memcpy(g->fp_cache, hex, LB_FP_HEX);
        g->fp_cached = 1;
    }
    return 0;
}

/* Keep the bytes of a line that fall in the first 1 KiB. */
void lb_gen_note(struct lb_gen *g, const struct lb_line *line)
{
    /* the head may end inside this line (it was read with pread) */
    if (g->head_n >= LB_FP_LEN || line->off > g->head_n || g->head_n >= line->end)
        return;
    size_t from = (size_t)(g->head_n - line->off);
    if (from < line->n) {
        size_t room = LB_FP_LEN - g->head_n;
        size_t k = line->n - from < room ? line->n - from : room;
        memcpy(g->head + g->head_n, line->p + from, k);
        g->head_n += k;
        from += k;
    }
    if (from == line->full_len && line->n == line->full_len && g->head_n < LB_FP_LEN &&
        line->end > line->off + line->full_len)
        g->head[g->head_n++] = '\n';
}

/* Did the file lose its first bytes (truncated, and maybe written again past
 * where we were)? Checked after every read that brought data. */
int lb_gen_truncated(const struct lb_gen *g)
{
    if (g->is_copy || g->gz || g->head_n == 0)
        return 0;
    unsigned char tmp[LB_FP_LEN];
    ssize_t r = lb_pread_full(lb_source_fd(g->s), tmp, g->head_n, 0);
    return r != (ssize_t)g->head_n || memcmp(tmp, g->head, g->head_n) != 0;
}

/* Forget what was read of g past off and read from there again. */
int lb_gen_rewind(struct lb_tail *j, struct lb_gen *g, uint64_t off)
{
    if (g->gz) {
        struct lb_source *s = lb_source_open(g->where, j->c->max_line, &j->err);
        if (s == NULL)
            return LB_EIO;
        lb_source_close(g->s);
        g->s = s;
    }
    return lb_source_skip_to(g->s, off, &j->err);
}

/* When g last changed, on the monotonic clock: its mtime (what a writer
 * did, not when we looked at it or read it). A .gz never changes. */
double lb_gen_changed(const struct lb_gen *g)
{
    struct stat st;
    if (g->gz || fstat(lb_source_fd(g->s), &st) != 0)
        return -1e9;
    double age = lb_clock_real() - ((double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9);
    return lb_clock_mono() - (age > 0 ? age : 0);
}

static int lb_tail_retired(const struct lb_tail *j, unsigned long long dev, unsigned long long ino)
{
    for (size_t i = 0; i + 1 < j->nret; i += 2)
        if (j->retired[i] == dev && j->retired[i + 1] == ino)
            return 1;
    return 0;
}

void lb_tail_retire(struct lb_tail *j, const struct lb_gen *g)
{
    if (lb_tail_retired(j, g->dev, g->ino))
        return;
    if (j->nret + 2 > j->capret) {
        size_t cap = j->capret ? j->capret * 2 : 32;
        unsigned long long *r = realloc(j->retired, cap * sizeof(*r));
        if (r == NULL)
            return;
        j->retired = r;
        j->capret = cap;
    }
    j->retired[j->nret++] = g->dev;
    j->retired[j->nret++] = g->ino;
}

/* Is this inode a generation some route holds (e.g. a rotated file whose new
 * name a glob also matches)? */
int lb_tail_held(const struct lb_tail *j, const struct stat *st)
{
    if (lb_tail_retired(j, (unsigned long long)st->st_dev, (unsigned long long)st->st_ino))
        return 1;
    for (size_t i = 0; i < j->nf; i++) {
        if (j->f[i]->cur != NULL && lb_gen_same(j->f[i]->cur, st))
            return 1;
        for (struct lb_gen *g = j->f[i]->queue; g != NULL; g = g->next)
            if (lb_gen_same(g, st))
                return 1;
    }
    return 0;
}

/* Held by a route, finished, or at a route's path: not a generation to
 * look for. */
int lb_tail_known(void *ctx, unsigned long long dev, unsigned long long ino)
{
    struct lb_tail *j = ctx;
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_dev = (dev_t)dev;
    st.st_ino = (ino_t)ino;
    if (lb_tail_held(j, &st))
        return 1;
    for (size_t i = 0; i < j->nf; i++) {
        struct stat at;
        if (stat(j->f[i]->path, &at) == 0 && at.st_dev == st.st_dev && at.st_ino == st.st_ino)
            return 1;
    }
    return 0;
}

/* The birth order key of a generation (see lb_rot_found.key). */
double lb_gen_key(const struct lb_gen *g)
{
    if (g->btime > 0)
        return g->btime;
    struct stat st;
    if (fstat(lb_source_fd(g->s), &st) != 0)
        return -1;
    return (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
}

void lb_tail_query(const struct lb_tfile *tf, struct lb_tail_where *w, struct lb_rot_query *q)
{
    memset(q, 0, sizeof(*q));
    q->dirs[q->ndirs++] = tf->dir->path;
    lb_rot_stem(tf->base, w->stems[0], sizeof(w->stems[0]));
    q->stems[q->nstems++] = w->stems[0];
    char real[PATH_MAX];
    if (realpath(tf->path, real) != NULL && strcmp(real, tf->path) != 0) {
        char *slash = strrchr(real, '/');
        lb_rot_stem(slash + 1, w->stems[1], sizeof(w->stems[1]));
        if (strcmp(w->stems[1], w->stems[0]) != 0)
            q->stems[q->nstems++] = w->stems[1];
        snprintf(w->tdir, sizeof(w->tdir), "%.*s", slash == real ? 1 : (int)(slash - real), real);
        if (strcmp(w->tdir, tf->dir->path) != 0)
            q->dirs[q->ndirs++] = w->tdir;
    }
}

/* Generations found by lb_rot_chain become gens (watched), oldest first: the
 * checkpointed one (when ck_found) read from ck, the others from byte 0.
 * Returns the chain, or NULL with *fatal on out of memory or watches. */
struct lb_gen *lb_tail_gens(struct lb_tail *j, struct lb_tfile *tf, struct lb_rot_found *f,
                            size_t n, int ck_found, const struct lb_ckpt *ck, int *fatal)
{
    *fatal = 0;
    struct lb_gen *head = NULL, **pp = &head;
    for (size_t i = 0; i < n; i++) {
        struct lb_gen *g = *fatal ? NULL : lb_gen_new(tf, f[i].s, f[i].path);
        if (g == NULL) {
            if (!*fatal)
                lb_error_set(&j->err, LB_ENOMEM, "out of memory");
            else
                lb_source_close(f[i].s);
            *fatal = 1;
            continue;
        }
        int first = i == 0 && ck_found;
        if (first) {
            g->is_copy = f[i].copy;
            g->ck_dev = ck->dev;
            g->ck_ino = ck->ino;
            if (ck->off >= LB_FP_LEN) {
                memcpy(g->fp_cache, ck->fp, LB_FP_HEX);
                g->fp_cached = 1;
            }
            if (lb_gen_seek(g, ck->off, &j->err) != 0) {
                lb_warn_kv(LB_FIELDS(LB_F_STR("src", tf->src), LB_F_STR("file", f[i].path),
                                     LB_F_U64("off", ck->off)),
                           "the file ends before the checkpoint: %s", j->err.msg);
                lb_gen_free(j, g);
                continue;
            }
            g->start_off = ck->off;
            g->start_line = ck->line;
            lb_info_kv(LB_FIELDS(LB_F_STR("src", tf->src), LB_F_STR("file", f[i].path),
                                 LB_F_U64("dev", ck->dev), LB_F_U64("ino", ck->ino),
                                 LB_F_U64("off", ck->off)),
                       "the checkpointed generation%s is read from the checkpoint first",
                       f[i].gz     ? " (compressed)"
                       : f[i].copy ? " (a copy)"
                                   : "");
        } else {
            g->start_commit = 1;
            lb_info_kv(LB_FIELDS(LB_F_STR("src", tf->src), LB_F_STR("file", f[i].path),
                                 LB_F_U64("dev", f[i].dev), LB_F_U64("ino", f[i].ino)),
                       "a generation rotated away before it was read; it is read whole in its "
                       "turn");
        }
        if (lb_gen_watch(j, g) != 0) {
            lb_gen_free(j, g);
            *fatal = 1;
            continue;
        }
        *pp = g;
        pp = &g->next;
    }
    free(f);
    if (*fatal)
        while (head != NULL) {
            struct lb_gen *x = head;
            head = x->next;
            lb_gen_free(j, x);
        }
    return head;
}

/* The query for tf's generations, the file now at the path being live (NULL:
 * none; never returned), skipping what the job holds or finished. The caller
 * sets q->ck or q->after. */
void lb_tail_query_live(struct lb_tail *j, const struct lb_tfile *tf, const struct lb_gen *live,
                        struct lb_tail_where *w, struct lb_rot_query *q)
{
    lb_tail_query(tf, w, q);
    if (live != NULL) {
        q->has_live = 1;
        q->live_dev = live->dev;
        q->live_ino = live->ino;
        q->live_key = lb_gen_key(live);
    }
    q->skip = lb_tail_known;
    q->ctx = j;
}

/* The generations q finds (lb_rot_chain), as a queue (lb_tail_gens). ck: the
 * checkpoint the checkpointed one is read from (NULL: it is not looked for);
 * *ck_found (may be NULL) says whether the queue starts with it. */
struct lb_gen *lb_tail_chain(struct lb_tail *j, struct lb_tfile *tf, const struct lb_rot_query *q,
                             const struct lb_ckpt *ck, int *ck_found, int *fatal)
{
    struct lb_rot_found *f;
    int found;
    size_t n = lb_rot_chain(q, j->c->max_line, &f, &found);
    if (ck == NULL)
        found = 0;
    if (ck_found != NULL)
        *ck_found = found;
    return lb_tail_gens(j, tf, f, n, found, ck, fatal);
}

/* Append the queue g (may be NULL) to the queue at *head. */
void lb_gen_append(struct lb_gen **head, struct lb_gen *g)
{
    while (*head != NULL)
        head = &(*head)->next;
    *head = g;
}

void lb_gens_free(struct lb_tail *j, struct lb_gen *g)
{
    while (g != NULL) {
        struct lb_gen *x = g;
        g = x->next;
        lb_gen_free(j, x);
    }
}
