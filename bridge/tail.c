/*
 * tail.c - `logbridge tail`: follow live files and append each line to a
 * stream, exactly once (DESIGN.md sections 4 and 5).
 *
 * One job is one event loop: epoll over an inotify fd (tail_watch.c), a
 * signalfd (or, under `run`, the stop eventfd) and a timerfd that is armed
 * only when something is due (a rotated generation's --rotate-wait, the
 * Redis backoff, metrics). An idle job sleeps in epoll_wait and uses no CPU.
 *
 * Terms. A route (tfile) is a name we follow: a PATH, or a file a GLOB
 * matched; its src is that absolute path (or --name). A generation (gen) is
 * one inode that was at that path: rotation makes new generations. Redis
 * holds one checkpoint per src, so a route reads one generation at a time:
 * the current one (cur), then those queued behind it, each from byte 0.
 *
 * Reading. A file with data is "dirty": service() reads what is available
 * and queues its lines in the sink; each read's lines go out as one batch
 * (lines, DLQ entries and the checkpoint, applied atomically by Redis), so a
 * batch is what one read brought (capped by --batch): small and immediate at
 * low rates, large at high rates. A batch is sent without waiting for its
 * reply (the sink copies it out of the read buffer), so the next read is
 * parsed while Redis runs it; replies are read as they come (the connection
 * is in the epoll set). At most LB_TAIL_FLIGHTS batches, all of one route,
 * are in flight. An unterminated last line stays in the buffer and the
 * checkpoint stays before it.
 *
 * Rotation, as the kernel shows it to us:
 *  - rename + create: the dir reports the name moved away and a new file
 *    created; the old inode (we keep its fd) is read to its end and for
 *    --rotate-wait seconds after its last change (late writers), its last
 *    unterminated line is then taken as a line, and the new generation starts
 *    at byte 0 (its first commit switches the checkpoint to its dev/ino);
 *  - delete (+ create): the same, the old inode being unlinked;
 *  - copytruncate: the file is shorter than what we read (or its first bytes
 *    changed): the bytes past the checkpoint are read from the rotated copy
 *    (found by fingerprint, tail_rotate.c), then the file from byte 0;
 *  - while we were stopped: at start the checkpointed generation is looked
 *    for in the same directory and finished first.
 * What cannot be recovered is logged at warn with a byte count and counted
 * in logbridge_lost_bytes_total.
 *
 * Redis down: reading stops (the file is the buffer). The backoff timer
 * retries; then the checkpoint in Redis says which batches in flight landed
 * (it is where we were, or the end of one of them), and the route is rewound
 * to it and read again from the file.
 */
#include "tail.h"
#include "clock.h"
#include "tail_int.h"

#include "checkpoint.h"
#include "committer.h"
#include "feed.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"
#include "redis.h"
#include "sink.h"
#include "source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define LB_TAIL_BUF_INITIAL 4096 /* per file; grows while a file is busy */
#define LB_TAIL_TURN_FILLS 8     /* reads per file per turn: busy files take turns */
#define LB_TAIL_TURN_FILES 16    /* turns between two looks at epoll (signals) */
#define LB_FILE_MASK (IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF)
#define LB_DIR_MASK                                                                                \
    (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF |         \
     IN_ONLYDIR)

enum { LB_T_OK = 0, LB_T_MORE = 1, LB_T_BLOCKED = 2, LB_T_FATAL = 3, LB_T_GO = 4 };
enum { LB_EV_INOTIFY = 1, LB_EV_SIGNAL, LB_EV_TIMER, LB_EV_STOP, LB_EV_REDIS };

struct lb_tfile;

/* One generation (inode) of a route. */
struct lb_gen {
    struct lb_source *s;
    struct lb_tfile *tf;
    unsigned long long dev, ino;       /* the open file */
    unsigned long long ck_dev, ck_ino; /* the identity its checkpoint carries */
    int wd;                            /* inotify watch, -1 when none */
    struct lb_gen *wd_next;            /* other generations of the same inode */
    struct lb_gen *next;               /* the route's queue */
    int is_copy;                       /* a rotated copy read for recovery: never grows */
    int gz;
    char *where;                    /* path it was opened at (messages, reopen) */
    uint64_t start_off, start_line; /* where reading began */
    int start_commit;               /* switch the checkpoint to it before reading */
    uint64_t seen;                  /* the largest size seen */
    double btime;                   /* birth time (-1: unknown): orders generations */
    /* > 0: the live file of a copytruncate route, to be read from byte 0
     * after the copies found at this time (CLOCK_REALTIME s): before its
     * first byte is read, copies born since then are read first (see
     * lb_tail_fresh). */
    double verify_after;
    /* Its first bytes, as read: fingerprints without touching the file (which
     * copytruncate may have emptied), and the check that it was not. */
    unsigned char head[LB_FP_LEN];
    size_t head_n;
    char fp_cache[LB_FP_HEX];
    int fp_cached;
};

struct lb_tdir;

/* A route: one src. */
struct lb_tfile {
    char *src, *path;
    const char *base; /* in path */
    struct lb_tdir *dir;
    struct lb_tfile *dir_next;
    struct lb_gen *cur, *queue;
    enum lb_rot_state state; /* changed by lb_tail_enter only */
    double last_change;      /* of a draining cur (monotonic s), for --rotate-wait */
    int initial;        /* named or matched at start: --from applies */
    int inited;         /* its checkpoint was loaded */

    /* The checkpoint in Redis. ck_is_cur: it describes cur's position (not
     * an older generation, or the content of the same inode before it was
     * truncated). */
    int ck_present, ck_is_cur;
    unsigned long long ck_dev, ck_ino;
    uint64_t ck_off, ck_line;
    char ck_fp[LB_FP_HEX];
    char prev_id[48];
    /* Where reading of cur goes on: just past the last line handed to the
     * committer (which holds the exact figure while it carries this route). */
    uint64_t end_off, end_line;

    int dirty;
    struct lb_tfile *dnext;
    char *l_src, *l_written, *l_bad, *l_blank;
};

struct lb_tdir {
    char *path;
    int wd;
    struct lb_tfile *files;
    char **globs; /* patterns of the file name */
    size_t nglobs;
    struct lb_tdir *next;
};

#define LB_TAIL_FLIGHTS 2 /* batches in flight (the sink allows up to 4) */

struct lb_tail {
    const struct lb_tail_opts *o;
    const struct lb_common *c;
    const struct lb_job_env *env;
    struct lb_redis *r;
    struct lb_sink *sink;
    struct lb_feed *feed;
    struct lb_committer *cm;
    struct lb_tfile *cm_tf; /* the route and generation the committer carries */
    struct lb_gen *cm_g;
    struct lb_metrics *m;
    int own_metrics;
    double metrics_next;

    int ep, sfd, tfd;
    struct lb_watchset *ws;
    double armed;

    struct lb_tfile **f;
    size_t nf, capf;
    struct lb_tdir *dirs;
    struct lb_tfile *dhead, *dtail;
    size_t ndraining; /* routes in LB_ROT_DRAINING */

    int up;
    unsigned attempt; /* backoff: reset when a batch lands, not on reconnect */
    int troubled;     /* Redis refused or went away since the last batch landed */
    unsigned unreachable; /* failed connection attempts in a row */
    unsigned moved_said;  /* checkpoints moved by another process (warned once) */
    double next_try;
    int need_init, rescan;
    unsigned long reconnects_seen;

    unsigned long long *retired; /* dev, ino pairs of finished generations */
    size_t nret, capret;

    int stop, fatal, trim_blocked;
    char l_stream[1200];
    struct lb_error err;
};

/* ---- small helpers ------------------------------------------------------------ */

static double lb_backoff(unsigned attempt)
{
    double s = 0.1;
    for (unsigned i = 0; i < attempt && s < 5.0; i++)
        s *= 2;
    return s > 5.0 ? 5.0 : s;
}

static int lb_has_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static char *lb_strdup_labels(const char *src, const char *outcome)
{
    char buf[PATH_MAX * 2 + 64];
    if (outcome != NULL)
        lb_metrics_labels(buf, sizeof(buf), "src", src, "outcome", outcome, NULL);
    else
        lb_metrics_labels(buf, sizeof(buf), "src", src, NULL);
    return strdup(buf);
}

static ssize_t lb_pread_full(int fd, void *buf, size_t n, uint64_t off)
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

/* The offset just past the last '\n' before size (--from end starts at a
 * line boundary, so a line being written is read whole). */
static uint64_t lb_last_line_end(int fd, uint64_t size)
{
    char buf[4096];
    uint64_t pos = size;
    while (pos > 0) {
        size_t n = pos < sizeof(buf) ? (size_t)pos : sizeof(buf);
        pos -= n;
        if (lb_pread_full(fd, buf, n, pos) != (ssize_t)n)
            return 0;
        for (size_t i = n; i > 0; i--)
            if (buf[i - 1] == '\n')
                return pos + i;
    }
    return 0;
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

static void lb_gen_free(struct lb_tail *j, struct lb_gen *g)
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
static int lb_gen_watch(struct lb_tail *j, struct lb_gen *g)
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
static struct lb_gen *lb_gen_open(struct lb_tail *j, struct lb_tfile *tf, const char *path,
                                  int *fatal)
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
            lb_warn("src=%s: cannot open %s: %s", tf->src, path, strerror(errno));
        }
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        lb_warn("src=%s: %s is not a regular file; not followed", tf->src, path);
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
static int lb_gen_seek(struct lb_gen *g, uint64_t off, struct lb_error *err)
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

static int lb_gen_same(const struct lb_gen *g, const struct stat *st)
{
    return g->dev == (unsigned long long)st->st_dev && g->ino == (unsigned long long)st->st_ino;
}

/* The fingerprint of the first min(off, 1 KiB) bytes, for the checkpoint. */
static int lb_tail_fp(void *ctx, uint64_t off, char hex[LB_FP_HEX])
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
static void lb_gen_note(struct lb_gen *g, const struct lb_line *line)
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
static int lb_gen_truncated(const struct lb_gen *g)
{
    if (g->is_copy || g->gz || g->head_n == 0)
        return 0;
    unsigned char tmp[LB_FP_LEN];
    ssize_t r = lb_pread_full(lb_source_fd(g->s), tmp, g->head_n, 0);
    return r != (ssize_t)g->head_n || memcmp(tmp, g->head, g->head_n) != 0;
}

/* Forget what was read of g past off and read from there again. */
static int lb_gen_rewind(struct lb_tail *j, struct lb_gen *g, uint64_t off)
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

/* ---- routes ------------------------------------------------------------------------ */

static void lb_tail_dirty(struct lb_tail *j, struct lb_tfile *tf)
{
    if (tf->dirty)
        return;
    tf->dirty = 1;
    tf->dnext = NULL;
    if (j->dtail != NULL)
        j->dtail->dnext = tf;
    else
        j->dhead = tf;
    j->dtail = tf;
}

static struct lb_tfile *lb_tail_pop_dirty(struct lb_tail *j)
{
    struct lb_tfile *tf = j->dhead;
    if (tf != NULL) {
        j->dhead = tf->dnext;
        if (j->dhead == NULL)
            j->dtail = NULL;
        tf->dnext = NULL;
    }
    return tf;
}

static void lb_tail_push_front(struct lb_tail *j, struct lb_tfile *tf)
{
    tf->dnext = j->dhead;
    j->dhead = tf;
    if (j->dtail == NULL)
        j->dtail = tf;
}

/* When g last changed, on the monotonic clock: its mtime (what a writer
 * did, not when we looked at it or read it). A .gz never changes. */
static double lb_gen_changed(const struct lb_gen *g)
{
    struct stat st;
    if (g->gz || fstat(lb_source_fd(g->s), &st) != 0)
        return -1e9;
    double age = lb_clock_real() - ((double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9);
    return lb_clock_mono() - (age > 0 ? age : 0);
}

/* The one place where a route's rotation state changes; lb_rot_next says to
 * what. A generation that starts draining is finished --rotate-wait after
 * its last change, which may be long past (then at once). */
static void lb_tail_enter(struct lb_tail *j, struct lb_tfile *tf, enum lb_rot_event ev, int at_path)
{
    enum lb_rot_state to = lb_rot_next(tf->state, ev, at_path);
    if (to == LB_ROT_DRAINING && (tf->state != LB_ROT_DRAINING || ev == LB_ROT_EV_CURRENT))
        tf->last_change = lb_gen_changed(tf->cur);
    if (to == LB_ROT_DRAINING && tf->state != LB_ROT_DRAINING)
        j->ndraining++;
    else if (to != LB_ROT_DRAINING && tf->state == LB_ROT_DRAINING)
        j->ndraining--;
    if (to != tf->state)
        lb_debug("src=%s: %s -> %s", tf->src, lb_rot_state_name(tf->state), lb_rot_state_name(to));
    tf->state = to;
}

static void lb_tfile_free(struct lb_tail *j, struct lb_tfile *tf)
{
    if (tf == NULL)
        return;
    lb_gen_free(j, tf->cur);
    while (tf->queue != NULL) {
        struct lb_gen *g = tf->queue;
        tf->queue = g->next;
        lb_gen_free(j, g);
    }
    free(tf->src);
    free(tf->path);
    free(tf->l_src);
    free(tf->l_written);
    free(tf->l_bad);
    free(tf->l_blank);
    free(tf);
}

static struct lb_tdir *lb_tail_dir(struct lb_tail *j, const char *path)
{
    for (struct lb_tdir *d = j->dirs; d != NULL; d = d->next)
        if (strcmp(d->path, path) == 0)
            return d;
    struct lb_tdir *d = calloc(1, sizeof(*d));
    if (d == NULL || (d->path = strdup(path)) == NULL) {
        free(d);
        return NULL;
    }
    d->wd = -1;
    d->next = j->dirs;
    j->dirs = d;
    return d;
}

static struct lb_tfile *lb_tail_find(struct lb_tail *j, const char *path)
{
    for (size_t i = 0; i < j->nf; i++)
        if (strcmp(j->f[i]->path, path) == 0)
            return j->f[i];
    return NULL;
}

/* A route for the absolute path (src: name, or the path). */
static struct lb_tfile *lb_tail_add(struct lb_tail *j, const char *path, const char *name,
                                    int initial)
{
    struct lb_tfile *tf = lb_tail_find(j, path);
    if (tf != NULL)
        return tf;
    if (j->nf == j->capf) {
        size_t cap = j->capf ? j->capf * 2 : 16;
        struct lb_tfile **f = realloc(j->f, cap * sizeof(*f));
        if (f == NULL)
            return NULL;
        j->f = f;
        j->capf = cap;
    }
    tf = calloc(1, sizeof(*tf));
    if (tf == NULL)
        return NULL;
    tf->src = strdup(name != NULL ? name : path);
    tf->path = strdup(path);
    if (tf->src == NULL || tf->path == NULL) {
        lb_tfile_free(j, tf);
        return NULL;
    }
    tf->l_src = lb_strdup_labels(tf->src, NULL);
    tf->l_written = lb_strdup_labels(tf->src, "written");
    tf->l_bad = lb_strdup_labels(tf->src, "bad");
    tf->l_blank = lb_strdup_labels(tf->src, "blank");
    char *slash = strrchr(tf->path, '/');
    tf->base = slash + 1;
    char dir[PATH_MAX];
    size_t dn = slash == tf->path ? 1 : (size_t)(slash - tf->path);
    snprintf(dir, sizeof(dir), "%.*s", (int)dn, tf->path);
    tf->dir = lb_tail_dir(j, dir);
    if (tf->l_src == NULL || tf->l_written == NULL || tf->l_bad == NULL || tf->l_blank == NULL ||
        tf->dir == NULL) {
        lb_tfile_free(j, tf);
        return NULL;
    }
    tf->initial = initial;
    /* a counter exists at 0 from the moment its labels are known */
    lb_metrics_add(j->m, "logbridge_lost_bytes_total", tf->l_src, 0);
    tf->dir_next = tf->dir->files;
    tf->dir->files = tf;
    j->f[j->nf++] = tf;
    return tf;
}

static int lb_tail_retired(const struct lb_tail *j, unsigned long long dev, unsigned long long ino)
{
    for (size_t i = 0; i + 1 < j->nret; i += 2)
        if (j->retired[i] == dev && j->retired[i + 1] == ino)
            return 1;
    return 0;
}

static void lb_tail_retire(struct lb_tail *j, const struct lb_gen *g)
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
static int lb_tail_held(const struct lb_tail *j, const struct stat *st)
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
static int lb_tail_known(void *ctx, unsigned long long dev, unsigned long long ino)
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
static double lb_gen_key(const struct lb_gen *g)
{
    if (g->btime > 0)
        return g->btime;
    struct stat st;
    if (fstat(lb_source_fd(g->s), &st) != 0)
        return -1;
    return (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
}

/* Where tf's generations may be: its directory and its symlink target's
 * (rotatelogs -l, container log links), names of the family of both. */
struct lb_tail_where {
    char tdir[PATH_MAX];
    char stems[2][NAME_MAX + 1];
};

static void lb_tail_query(const struct lb_tfile *tf, struct lb_tail_where *w,
                          struct lb_rot_query *q)
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
static struct lb_gen *lb_tail_gens(struct lb_tail *j, struct lb_tfile *tf, struct lb_rot_found *f,
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
                lb_warn("src=%s: %s ends before the checkpoint offset %" PRIu64 ": %s", tf->src,
                        f[i].path, ck->off, j->err.msg);
                lb_gen_free(j, g);
                continue;
            }
            g->start_off = ck->off;
            g->start_line = ck->line;
            lb_info("src=%s: the checkpointed generation (dev=%llu ino=%llu) is %s%s: read from "
                    "off=%" PRIu64 " first",
                    tf->src, ck->dev, ck->ino, f[i].path,
                    f[i].gz ? " (compressed)" : f[i].copy ? " (a copy)" : "", ck->off);
        } else {
            g->start_commit = 1;
            lb_info("src=%s: %s is a generation rotated away before it was read (dev=%llu "
                    "ino=%llu); it is read whole in its turn",
                    tf->src, f[i].path, f[i].dev, f[i].ino);
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

static void lb_gens_free(struct lb_tail *j, struct lb_gen *g)
{
    while (g != NULL) {
        struct lb_gen *x = g;
        g = x->next;
        lb_gen_free(j, x);
    }
}

/* The time of a checkpoint's last entry (s), or -1: what was written to the
 * route's files after it was not committed. */
static double lb_tail_id_time(const char *id)
{
    char *end;
    unsigned long long ms = strtoull(id, &end, 10);
    return end != id && ms > 0 ? (double)ms / 1000.0 : -1;
}

/* ---- committing --------------------------------------------------------------------- */

static void lb_tail_trim_state(struct lb_tail *j, int blocked)
{
    if (j->o->maxlen <= 0)
        return;
    if (blocked && !j->trim_blocked)
        lb_warn("stream=%s: trimming to --maxlen %lld is held back by a consumer group that has "
                "not read (and acknowledged) the oldest entries; the stream stays longer "
                "meanwhile",
                j->o->stream, j->o->maxlen);
    else if (!blocked && j->trim_blocked)
        lb_info("stream=%s: trimming to --maxlen %lld is no longer held back", j->o->stream,
                j->o->maxlen);
    j->trim_blocked = blocked;
    lb_metrics_set(j->m, "logbridge_trim_blocked", j->l_stream, blocked);
}

/* The committer's report of what Redis now holds for the route it carries:
 * a batch landed, or the checkpoint was read again after trouble. */
static void lb_tail_on_ckpt(void *ctx, const struct lb_commit_event *ev)
{
    struct lb_tail *j = ctx;
    struct lb_tfile *tf = j->cm_tf;
    struct lb_gen *g = j->cm_g;
    lb_metrics_add(j->m, "logbridge_lines_total", tf->l_written, (double)ev->written);
    lb_metrics_add(j->m, "logbridge_lines_total", tf->l_bad, (double)ev->bad);
    lb_metrics_add(j->m, "logbridge_lines_total", tf->l_blank, (double)ev->blank);
    lb_metrics_add(j->m, "logbridge_bytes_read_total", tf->l_src, (double)ev->bytes);
    if (ev->seconds > 0) {
        lb_metrics_observe_batch(j->m, ev->seconds);
        j->attempt = 0;
        j->troubled = 0;
    }
    if (ev->trim_blocked >= 0)
        lb_tail_trim_state(j, ev->trim_blocked);
    tf->ck_present = ev->ck.present;
    tf->ck_dev = ev->ck.dev;
    tf->ck_ino = ev->ck.ino;
    tf->ck_off = ev->ck.off;
    tf->ck_line = ev->ck.line;
    memcpy(tf->ck_fp, ev->ck.fp, LB_FP_HEX);
    if (ev->ck.present && ev->ck.id[0] != '\0')
        snprintf(tf->prev_id, sizeof(tf->prev_id), "%s", ev->ck.id);
    tf->ck_is_cur = ev->ck.present && ev->ck.dev == g->ck_dev && ev->ck.ino == g->ck_ino;
    if (tf->ck_is_cur)
        g->start_commit = 0;
}

static void lb_tail_down(struct lb_tail *j, struct lb_tfile *tf)
{
    j->up = 0;
    j->next_try = lb_clock_mono() + lb_backoff(j->attempt);
    /* Whatever the connection still holds is of no use now (and a reply
     * arriving on it would keep epoll awake): close it, reconnect later. */
    lb_redis_drop(j->r);
    /* said once per episode (an OOM that lasts is retried quietly) */
    enum lb_log_level level = j->troubled ? LB_LOG_DEBUG : LB_LOG_WARN;
    j->troubled = 1;
    if (tf != NULL)
        lb_log(level,
               "%s; src=%s off=%" PRIu64 ": reading paused, retrying with backoff (<= 5 s) "
               "until redis takes batches again",
               j->err.msg, tf->src, tf->ck_off);
    else
        lb_log(level, "%s; reading paused, retrying with backoff (<= 5 s) until redis is back",
               j->err.msg);
}

/* What a committer call's result means for the job: go on, wait for Redis,
 * or stop. */
static int lb_tail_result(struct lb_tail *j, struct lb_tfile *tf, int rc)
{
    if (rc == 0)
        return LB_T_OK;
    if (rc == LB_EREDIS) {
        lb_tail_down(j, tf);
        return LB_T_BLOCKED;
    }
    lb_error_log("src=%s off=%" PRIu64 ": %s", tf->src, tf->ck_off, j->err.msg);
    j->fatal = 1;
    return LB_T_FATAL;
}

/* The committer carries tf's generation g from now on: what it carried
 * before is settled first (its batches in flight answered). */
static int lb_tail_bind(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g)
{
    if (j->cm_tf == tf && j->cm_g == g)
        return LB_T_OK;
    if (j->cm_tf != NULL) {
        int rc = lb_tail_result(j, j->cm_tf, lb_committer_flush(j->cm, 0, &j->err));
        if (rc != LB_T_OK)
            return rc;
        j->cm_tf->end_off = lb_committer_end_off(j->cm);
        j->cm_tf->end_line = lb_committer_end_line(j->cm);
    }
    struct lb_commit_source cs = {
        .src = tf->src,
        .dev = g->ck_dev,
        .ino = g->ck_ino,
        .off = tf->end_off,
        .line = tf->end_line,
        .start_off = g->start_off,
        .start_line = g->start_line,
        .fp = lb_tail_fp,
        .fp_ctx = g,
        .rereadable = 1,
    };
    cs.ck.present = tf->ck_present;
    cs.ck.dev = tf->ck_dev;
    cs.ck.ino = tf->ck_ino;
    cs.ck.off = tf->ck_off;
    cs.ck.line = tf->ck_line;
    memcpy(cs.ck.fp, tf->ck_fp, LB_FP_HEX);
    snprintf(cs.ck.id, sizeof(cs.ck.id), "%s", tf->prev_id);
    lb_committer_begin(j->cm, &cs);
    j->cm_tf = tf;
    j->cm_g = g;
    return LB_T_OK;
}

/* Forget the binding (g starts again elsewhere, or goes away). */
static void lb_tail_unbind(struct lb_tail *j, const struct lb_gen *g)
{
    if (j->cm_g == g) {
        j->cm_tf = NULL;
        j->cm_g = NULL;
    }
}

/* Send the open batch of tf (lines of g) when it changes the checkpoint (an
 * empty one may still move it, or switch it to g), then read replies until at
 * most `keep` batches are in flight: with keep 1 the next batch is read and
 * parsed while Redis runs this one. */
static int lb_tail_send(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g, int keep)
{
    int rc = lb_tail_bind(j, tf, g);
    if (rc != LB_T_OK)
        return rc;
    return lb_tail_result(j, tf, lb_committer_flush(j->cm, keep, &j->err));
}

/* Commit the open batch and wait until everything sent has landed. */
static int lb_tail_commit(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g)
{
    return lb_tail_send(j, tf, g, 0);
}

/* Wait for every batch in flight (before another command on the connection). */
static int lb_tail_drain(struct lb_tail *j)
{
    if (j->cm_tf == NULL)
        return LB_T_OK;
    return lb_tail_result(j, j->cm_tf, lb_committer_flush(j->cm, 0, &j->err));
}

/* Follow the connection in epoll: replies are read when they come, and a
 * server that goes away while we are idle is noticed at once. */
static void lb_tail_watch_redis(struct lb_tail *j)
{
    redisContext *ctx = lb_redis_ctx(j->r);
    if (ctx == NULL)
        return;
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u32 = LB_EV_REDIS;
    if (epoll_ctl(j->ep, EPOLL_CTL_ADD, ctx->fd, &ev) != 0 && errno == EEXIST)
        epoll_ctl(j->ep, EPOLL_CTL_MOD, ctx->fd, &ev);
}

/* The connection is readable: replies of batches in flight (as many as have
 * come), or, with none in flight, the server closing it. */
static void lb_tail_on_redis(struct lb_tail *j)
{
    redisContext *ctx = lb_redis_ctx(j->r);
    if (!j->up || ctx == NULL) {
        lb_redis_drop(j->r);
        return;
    }
    if (j->cm_tf == NULL || lb_committer_inflight(j->cm) == 0) {
        char c;
        ssize_t n = recv(ctx->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        lb_error_set(&j->err, LB_EREDIS, "redis at %s closed the connection", lb_redis_addr(j->r));
        lb_redis_drop(j->r);
        lb_tail_down(j, NULL);
        return;
    }
    lb_tail_result(j, j->cm_tf, lb_committer_poll(j->cm, &j->err));
}

static int lb_tail_line(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g,
                        const struct lb_line *line)
{
    int rc = lb_tail_bind(j, tf, g);
    if (rc != LB_T_OK)
        return rc;
    lb_gen_note(g, line);
    return lb_tail_result(j, tf, lb_committer_line(j->cm, line, 0, NULL, &j->err));
}

/* A checkpoint load; "redis is loading" (and the like) counts as a
 * connection problem (lb_ckpt_load says so). */
static int lb_tail_ckpt_load(struct lb_tail *j, const char *src, struct lb_ckpt *ck)
{
    int rc = lb_ckpt_load(j->r, lb_sink_ckpt_key(j->sink), src, ck, &j->err);
    if (rc == LB_EREDIS)
        lb_redis_drop(j->r);
    return rc;
}

/* ---- generation changes ------------------------------------------------------------- */

/* g becomes the generation tf reads. */
static void lb_tail_make_current(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g)
{
    tf->cur = g;
    tf->end_off = g->start_off;
    tf->end_line = g->start_line;
    lb_tail_unbind(j, g); /* the committer takes it from its start */
    tf->ck_is_cur = tf->ck_present && tf->ck_dev == g->ck_dev && tf->ck_ino == g->ck_ino &&
                    tf->ck_off == g->start_off && tf->ck_line == g->start_line && !g->start_commit;
    lb_tail_dirty(j, tf);
}

/* Where a generation that appears at the path starts: its checkpoint when
 * the checkpoint describes it, else byte 0 (it is new: --from applies only
 * to files found at start). */
static void lb_tail_place_new(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g)
{
    if (tf->ck_present && tf->ck_dev == g->dev && tf->ck_ino == g->ino) {
        struct lb_ckpt ck = {.present = 1,
                             .dev = tf->ck_dev,
                             .ino = tf->ck_ino,
                             .off = tf->ck_off,
                             .line = tf->ck_line};
        memcpy(ck.fp, tf->ck_fp, LB_FP_HEX);
        char why[256];
        if (lb_ckpt_trust(&ck, g->s, why, sizeof(why)) && lb_gen_seek(g, ck.off, &j->err) == 0) {
            g->start_off = ck.off;
            g->start_line = ck.line;
            return;
        }
        lb_gen_seek(g, 0, &j->err);
    }
    g->start_off = g->start_line = 0;
    g->start_commit = tf->ck_present;
}

/* Look at the path again and reconcile what we hold with what is there. */
static int lb_tail_reconcile(struct lb_tail *j, struct lb_tfile *tf)
{
    if (!tf->inited)
        return 0;
    struct stat st;
    int at = stat(tf->path, &st) == 0 && S_ISREG(st.st_mode);
    if (!at) {
        if (tf->cur != NULL)
            lb_tail_enter(j, tf, LB_ROT_EV_LEFT_PATH, 0);
        return 0;
    }
    if (tf->cur != NULL && lb_gen_same(tf->cur, &st) && !tf->cur->is_copy) {
        lb_tail_enter(j, tf, LB_ROT_EV_AT_PATH, 1); /* e.g. moved away and back */
        return 0;
    }
    for (struct lb_gen *q = tf->queue; q != NULL; q = q->next)
        if (lb_gen_same(q, &st))
            return 0;
    int fatal;
    struct lb_gen *g = lb_gen_open(j, tf, tf->path, &fatal);
    if (g == NULL)
        return fatal ? LB_EIO : 0;
    int known = tf->cur != NULL && tf->cur->dev == g->dev && tf->cur->ino == g->ino;
    for (struct lb_gen *q = tf->queue; q != NULL && !known; q = q->next)
        known = q->dev == g->dev && q->ino == g->ino;
    if (known) { /* the name moved between stat and open */
        lb_gen_free(j, g);
        return 0;
    }
    if (lb_gen_watch(j, g) != 0) {
        lb_gen_free(j, g);
        return LB_EIO;
    }
    if (tf->cur == NULL) {
        lb_tail_place_new(j, tf, g);
        lb_debug("src=%s: following dev=%llu ino=%llu from off=%" PRIu64, tf->src, g->dev, g->ino,
                 g->start_off);
        lb_tail_make_current(j, tf, g);
        lb_tail_enter(j, tf, LB_ROT_EV_CURRENT, 1);
        return 0;
    }
    g->start_off = g->start_line = 0;
    g->start_commit = 1;
    struct lb_gen **pp = &tf->queue, *last = tf->cur;
    while (*pp != NULL) {
        last = *pp;
        pp = &(*pp)->next;
    }
    /* Rotated more than once since we last looked: the generations born
     * after the last one we hold and not after g come first. */
    struct lb_rot_query q;
    struct lb_tail_where w;
    lb_tail_query(tf, &w, &q);
    q.after = last->gz ? -1 : lb_gen_key(last);
    q.has_live = 1;
    q.live_dev = g->dev;
    q.live_ino = g->ino;
    q.live_key = lb_gen_key(g);
    q.skip = lb_tail_known;
    q.ctx = j;
    struct lb_rot_found *f;
    int ck_found;
    size_t n = lb_rot_chain(&q, j->c->max_line, &f, &ck_found);
    struct lb_gen *mid = lb_tail_gens(j, tf, f, n, 0, NULL, &fatal);
    if (fatal) {
        lb_gen_free(j, g);
        return LB_EIO;
    }
    *pp = mid;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = g;
    lb_info("src=%s: rotated: a new file dev=%llu ino=%llu is at the path; the old one "
            "(ino=%llu) is read to its end first",
            tf->src, g->dev, g->ino, tf->cur->ino);
    lb_tail_enter(j, tf, LB_ROT_EV_LEFT_PATH, 0);
    return 0;
}

/* The next generation of tf (if any) becomes current. */
static int lb_tail_next_gen(struct lb_tail *j, struct lb_tfile *tf)
{
    struct lb_gen *next = tf->queue;
    if (next == NULL) {
        lb_tail_enter(j, tf, LB_ROT_EV_NONE, 0);
        return LB_T_OK;
    }
    tf->queue = next->next;
    next->next = NULL;
    lb_tail_make_current(j, tf, next);
    struct stat st;
    lb_tail_enter(j, tf, LB_ROT_EV_CURRENT,
                  !next->is_copy && stat(tf->path, &st) == 0 && lb_gen_same(next, &st));
    return LB_T_MORE;
}

/* The current generation is done (rotated away and quiet, a copy read to its
 * end, or deleted for good): take its unterminated last line, which nothing
 * will complete now, commit, and go on with the next generation. */
static int lb_tail_finish(struct lb_tail *j, struct lb_tfile *tf)
{
    struct lb_gen *g = tf->cur;
    struct lb_line line;
    int rc;
    if (lb_source_take_partial(g->s, &line) && (rc = lb_tail_line(j, tf, g, &line)) != LB_T_OK)
        return rc;
    if ((rc = lb_tail_commit(j, tf, g)) != LB_T_OK)
        return rc;
    lb_info("src=%s: finished %s generation dev=%llu ino=%llu at off=%" PRIu64 " line=%" PRIu64,
            tf->src, g->is_copy ? "the rotated copy of the" : "the rotated", g->dev, g->ino,
            tf->ck_off, tf->ck_line);
    lb_tail_retire(j, g); /* a copy too: never read again by a later search */
    tf->cur = NULL;
    lb_gen_free(j, g);
    return lb_tail_next_gen(j, tf);
}

/* The file was truncated under us (copytruncate, or `> file`). Everything
 * complete before the read that noticed it is committed; the bytes past the
 * checkpoint are looked for in the rotated copy. */
static int lb_tail_truncated(struct lb_tail *j, struct lb_tfile *tf, uint64_t read_to)
{
    struct lb_gen *g = tf->cur;
    uint64_t seen = g->seen > read_to ? g->seen : read_to;
    struct lb_ckpt ck = {.present = 1, .dev = g->ck_dev, .ino = g->ck_ino};
    if (tf->ck_is_cur) {
        ck.off = tf->ck_off;
        ck.line = tf->ck_line;
        memcpy(ck.fp, tf->ck_fp, LB_FP_HEX);
    } else {
        ck.off = g->start_off;
        ck.line = g->start_line;
        lb_tail_fp(g, ck.off, ck.fp);
    }
    uint64_t past = seen > ck.off ? seen - ck.off : 0;
    /* The bytes past the checkpoint are in a copy of what the file held
     * (copytruncate), and copies made since (more than one rotation before
     * we noticed) follow it; g then starts again at byte 0. */
    struct lb_gen *chain = NULL;
    int ck_found = 0;
    double searched = lb_clock_real();
    if (g->head_n > 0) {
        struct lb_rot_ident id = {.dev = g->dev, .ino = g->ino, .off = ck.off, .fp_len = g->head_n};
        lb_fp_hex(g->head, g->head_n, id.fp);
        struct lb_rot_query q;
        struct lb_tail_where w;
        lb_tail_query(tf, &w, &q);
        q.ck = &id;
        q.has_live = 1;
        q.live_dev = g->dev;
        q.live_ino = g->ino;
        q.live_key = lb_gen_key(g);
        q.skip = lb_tail_known;
        q.ctx = j;
        struct lb_rot_found *f;
        size_t n = lb_rot_chain(&q, j->c->max_line, &f, &ck_found);
        int fatal;
        chain = lb_tail_gens(j, tf, f, n, ck_found, &ck, &fatal);
        if (fatal) {
            lb_error_log("src=%s: %s", tf->src, j->err.msg);
            j->fatal = 1;
            return LB_T_FATAL;
        }
        if (ck_found && (chain == NULL || chain->is_copy == 0 || chain->start_off != ck.off))
            ck_found = 0; /* it was not usable after all */
    }
    if (lb_gen_seek(g, 0, &j->err) != 0) {
        lb_error_log("src=%s: %s", tf->src, j->err.msg);
        lb_gens_free(j, chain);
        j->fatal = 1;
        return LB_T_FATAL;
    }
    unsigned char head[LB_FP_LEN];
    size_t head_n = g->head_n;
    memcpy(head, g->head, head_n);
    g->head_n = 0;
    g->fp_cached = 0;
    g->seen = 0;
    g->start_off = g->start_line = 0;
    g->start_commit = 1;
    g->verify_after = searched;
    tf->ck_is_cur = 0;
    if (ck_found) {
        /* its identity and first bytes are those of the truncated file */
        memcpy(chain->head, head, head_n);
        chain->head_n = head_n;
        lb_info("src=%s was truncated; reading what followed off=%" PRIu64
                " from its rotated copy %s first",
                tf->src, ck.off, chain->where);
    } else if (past > 0) {
        lb_warn("src=%s was truncated below what was read, and no rotated copy holding its "
                "bytes past off=%" PRIu64 " was found in %s: %" PRIu64
                " bytes are lost; reading it again from the start",
                tf->src, ck.off, tf->dir->path, past);
        lb_metrics_add(j->m, "logbridge_lost_bytes_total", tf->l_src, (double)past);
    } else {
        lb_info("src=%s was truncated; reading it again from the start", tf->src);
    }
    /* chain, then g from byte 0, then what was queued */
    struct lb_gen **pp = &chain;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = g;
    g->next = tf->queue;
    tf->queue = chain;
    tf->cur = NULL;
    return lb_tail_next_gen(j, tf);
}

/* The live file of a copytruncate route is to be read from byte 0 after the
 * copies found at g->verify_after. But it is not a new inode: while those
 * copies were read, the writer may have copied it away and emptied it again,
 * more than once, and what it holds now is newer than those copies. So,
 * before its first byte is read:
 *  1. its first bytes are taken (an empty file: nothing to do yet);
 *  2. copies of the route born since verify_after that nobody holds are
 *     looked for; found: they are read first (then this check again);
 *  3. else its first bytes are its head: any copytruncate from now on shows
 *     as a change of them (lb_gen_truncated), and is handled by
 *     lb_tail_truncated, which finds the copy by them.
 * Returns LB_T_GO (read it), LB_T_OK (empty: wait), LB_T_MORE or LB_T_FATAL. */
static int lb_tail_fresh(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g)
{
    unsigned char head[LB_FP_LEN];
    ssize_t h = lb_pread_full(lb_source_fd(g->s), head, sizeof(head), 0);
    if (h <= 0)
        return LB_T_OK;
    double searched = lb_clock_real();
    struct lb_rot_query q;
    struct lb_tail_where w;
    lb_tail_query(tf, &w, &q);
    /* file times tick coarsely: a little before, inclusive (what we hold
     * or finished is skipped) */
    q.after = g->verify_after - 0.05;
    q.has_live = 1;
    q.live_dev = g->dev;
    q.live_ino = g->ino;
    q.live_key = lb_gen_key(g);
    q.skip = lb_tail_known;
    q.ctx = j;
    struct lb_rot_found *f;
    int ck_found, fatal;
    size_t n = lb_rot_chain(&q, j->c->max_line, &f, &ck_found);
    struct lb_gen *mid = lb_tail_gens(j, tf, f, n, 0, NULL, &fatal);
    if (fatal) {
        lb_error_log("src=%s: %s", tf->src, j->err.msg);
        j->fatal = 1;
        return LB_T_FATAL;
    }
    if (mid == NULL) {
        memcpy(g->head, head, (size_t)h);
        g->head_n = (size_t)h;
        g->verify_after = 0;
        return LB_T_GO;
    }
    lb_info("src=%s: %s was copied away again while older copies were read: those copies come "
            "first",
            tf->src, tf->path);
    g->verify_after = searched;
    struct lb_gen **pp = &mid;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = g;
    g->next = tf->queue;
    tf->queue = mid;
    tf->cur = NULL;
    lb_tail_unbind(j, g);
    return lb_tail_next_gen(j, tf);
}

/* ---- reading -------------------------------------------------------------------------- */

/* A draining generation is finished when it has not changed for
 * --rotate-wait (late writers), counted from its last change: one that
 * nobody writes any more is finished as soon as it is read. */
static int lb_tail_finish_due(const struct lb_tail *j, struct lb_tfile *tf)
{
    double changed = lb_gen_changed(tf->cur);
    if (changed > tf->last_change)
        tf->last_change = changed;
    return tf->cur->gz || lb_clock_mono() >= tf->last_change + j->o->rotate_wait;
}

static void lb_tail_lag(struct lb_tail *j, struct lb_tfile *tf)
{
    if (tf->cur == NULL)
        return;
    uint64_t base = tf->ck_is_cur ? tf->ck_off : 0;
    double lag = tf->cur->seen > base ? (double)(tf->cur->seen - base) : 0;
    lb_metrics_set(j->m, "logbridge_lag_bytes", tf->l_src, lag);
}

/* Read what tf's current generation has, in batches. LB_T_OK: at its end;
 * LB_T_MORE: more to do (its turn is over); LB_T_BLOCKED: Redis is down. */
static int lb_tail_service(struct lb_tail *j, struct lb_tfile *tf)
{
    struct lb_gen *g = tf->cur;
    if (g == NULL)
        return LB_T_OK;
    int rc;
    /* The committer follows one route at a time: what it carries for
     * another is settled first. */
    if (g->verify_after > 0 && (rc = lb_tail_fresh(j, tf, g)) != LB_T_GO)
        return rc;
    if ((rc = lb_tail_bind(j, tf, g)) != LB_T_OK)
        return rc;
    if (g->start_commit && (rc = lb_tail_commit(j, tf, g)) != LB_T_OK)
        return rc;
    for (int fills = 0;; fills++) {
        struct lb_line line;
        while (lb_source_next(g->s, &line))
            if ((rc = lb_tail_line(j, tf, g, &line)) != LB_T_OK)
                return rc;
        if (fills == LB_TAIL_TURN_FILLS) {
            /* its turn is over (the next route's service settles what is in
             * flight, unless it is this one again) */
            rc = lb_tail_send(j, tf, g, 1);
            return rc != LB_T_OK ? rc : LB_T_MORE;
        }
        /* Send what the last read brought; read on while Redis runs it. */
        if ((rc = lb_tail_send(j, tf, g, 1)) != LB_T_OK)
            return rc;
        long got = lb_source_fill(g->s, &j->err);
        if (got < 0) {
            lb_error_log("src=%s: reading %s: %s; it is no longer followed", tf->src, g->where,
                         j->err.msg);
            if ((rc = lb_tail_commit(j, tf, g)) != LB_T_OK)
                return rc;
            tf->cur = NULL;
            lb_gen_free(j, g);
            return lb_tail_next_gen(j, tf);
        }
        uint64_t pos = (uint64_t)lb_source_raw_pos(g->s);
        if (got > 0) {
            /* (reading is no change: --rotate-wait counts from the file's) */
            if (lb_gen_truncated(g)) {
                if ((rc = lb_tail_commit(j, tf, g)) != LB_T_OK)
                    return rc;
                return lb_tail_truncated(j, tf, pos - (uint64_t)got);
            }
            continue;
        }
        /* At the end of what is there now. The last batch may still be in
         * flight: its reply is read when it comes (lb_tail_on_redis). */
        if (!g->is_copy && !g->gz) {
            long long size = lb_source_size(g->s);
            if (size >= 0 && (uint64_t)size < pos) {
                if ((rc = lb_tail_commit(j, tf, g)) != LB_T_OK)
                    return rc;
                return lb_tail_truncated(j, tf, pos);
            }
            if (size >= 0 && (uint64_t)size > g->seen)
                g->seen = (uint64_t)size;
        } else if (pos > g->seen) {
            g->seen = pos;
        }
        lb_tail_lag(j, tf);
        if (tf->state == LB_ROT_DRAINING && lb_tail_finish_due(j, tf))
            return lb_tail_finish(j, tf);
        lb_source_shrink(g->s);
        return LB_T_OK;
    }
}

/* ---- start of a route ------------------------------------------------------------------ */

/* Load tf's checkpoint and decide where each generation starts. */
static int lb_tail_init(struct lb_tail *j, struct lb_tfile *tf)
{
    struct lb_ckpt ck;
    int rc = lb_tail_ckpt_load(j, tf->src, &ck);
    if (rc == LB_EREDIS) {
        lb_tail_down(j, NULL);
        return LB_T_BLOCKED;
    }
    if (rc == LB_ECKPT) {
        lb_warn("src=%s: %s; treating it as absent", tf->src, j->err.msg);
        memset(&ck, 0, sizeof(ck));
    } else if (rc != 0) {
        lb_error_log("src=%s: %s", tf->src, j->err.msg);
        j->fatal = 1;
        return LB_T_FATAL;
    }
    tf->inited = 1;
    tf->ck_present = ck.present;
    tf->ck_dev = ck.dev;
    tf->ck_ino = ck.ino;
    tf->ck_off = ck.off;
    tf->ck_line = ck.line;
    memcpy(tf->ck_fp, ck.fp, LB_FP_HEX);
    snprintf(tf->prev_id, sizeof(tf->prev_id), "%s", ck.id);

    int fatal;
    struct lb_gen *g = lb_gen_open(j, tf, tf->path, &fatal);
    if (fatal) {
        lb_error_log("%s", j->err.msg);
        j->fatal = 1;
        return LB_T_FATAL;
    }
    if (g != NULL && lb_gen_watch(j, g) != 0) {
        lb_gen_free(j, g);
        lb_error_log("%s", j->err.msg);
        j->fatal = 1;
        return LB_T_FATAL;
    }
    if (!ck.present) {
        if (g == NULL)
            return LB_T_OK; /* followed when it appears */
        uint64_t start = 0;
        if (j->o->from_end && tf->initial) {
            long long size = lb_source_size(g->s);
            start = lb_last_line_end(lb_source_fd(g->s), size > 0 ? (uint64_t)size : 0);
        }
        if (lb_gen_seek(g, start, &j->err) != 0) {
            lb_gen_free(j, g);
            lb_error_log("src=%s: %s", tf->src, j->err.msg);
            j->fatal = 1;
            return LB_T_FATAL;
        }
        g->start_off = start;
        /* --from end: the start is recorded at once, so that a restart does
         * not skip what was written meanwhile. */
        g->start_commit = start > 0;
        lb_tail_make_current(j, tf, g);
        lb_tail_enter(j, tf, LB_ROT_EV_CURRENT, 1);
        return LB_T_OK;
    }
    char why[256] = "";
    if (g != NULL && g->dev == ck.dev && g->ino == ck.ino) {
        if (lb_ckpt_trust(&ck, g->s, why, sizeof(why)) && lb_gen_seek(g, ck.off, &j->err) == 0) {
            g->start_off = ck.off;
            g->start_line = ck.line;
            if (ck.off >= LB_FP_LEN) {
                memcpy(g->fp_cache, ck.fp, LB_FP_HEX);
                g->fp_cached = 1;
            }
            lb_tail_make_current(j, tf, g);
            lb_tail_enter(j, tf, LB_ROT_EV_CURRENT, 1);
            return LB_T_OK;
        }
        /* Same inode, other content: truncated (copytruncate), or the inode
         * was freed and given to a new file. Either way the checkpointed
         * content is elsewhere now (a copy, a .gz) or gone. */
        lb_gen_seek(g, 0, &j->err);
    }
    /* The checkpointed generation is not (or no longer) at the path: rotated
     * while we were stopped, perhaps many times. Every generation since it
     * is found by identity and read in order, the file at the path last. */
    struct lb_rot_ident id = {.dev = ck.dev, .ino = ck.ino, .off = ck.off};
    id.fp_len = ck.off < LB_FP_LEN ? (size_t)ck.off : LB_FP_LEN;
    memcpy(id.fp, ck.fp, LB_FP_HEX);
    struct lb_rot_query q;
    struct lb_tail_where w;
    lb_tail_query(tf, &w, &q);
    q.ck = &id;
    q.after = lb_tail_id_time(ck.id);
    if (g != NULL) {
        q.has_live = 1;
        q.live_dev = g->dev;
        q.live_ino = g->ino;
        q.live_key = lb_gen_key(g);
    }
    q.skip = lb_tail_known;
    q.ctx = j;
    struct lb_rot_found *f;
    int ck_found;
    double searched = lb_clock_real();
    size_t n = lb_rot_chain(&q, j->c->max_line, &f, &ck_found);
    struct lb_gen *chain = lb_tail_gens(j, tf, f, n, ck_found, &ck, &fatal);
    if (fatal) {
        lb_gen_free(j, g);
        lb_error_log("src=%s: %s", tf->src, j->err.msg);
        j->fatal = 1;
        return LB_T_FATAL;
    }
    if (ck_found && (chain == NULL || chain->start_off != ck.off || chain->start_commit))
        ck_found = 0;
    if (!ck_found && ck.off > 0)
        lb_warn("src=%s: the checkpointed file (dev=%llu ino=%llu%s%s) is no longer in %s (deleted, "
                "or compressed into a form we cannot match?): anything it held past off=%" PRIu64
                " is lost (byte count unknown)%s",
                tf->src, ck.dev, ck.ino, why[0] ? "; " : "", why, tf->dir->path, ck.off,
                chain != NULL ? "; the generations written since are read"
                : g != NULL   ? "; reading the file now at the path from the start"
                              : "");
    if (g != NULL) {
        g->start_off = g->start_line = 0;
        g->start_commit = 1;
        g->verify_after = searched;
        struct lb_gen **pp = &chain;
        while (*pp != NULL)
            pp = &(*pp)->next;
        *pp = g;
    }
    tf->queue = chain;
    tf->cur = NULL;
    lb_tail_next_gen(j, tf);
    return LB_T_OK;
}

/* ---- globs and events --------------------------------------------------------------------- */

static int lb_tail_glob_match(struct lb_tail *j, struct lb_tdir *d, const char *name, int initial)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", strcmp(d->path, "/") ? d->path : "", name) >=
        sizeof(path))
        return 0;
    if (lb_tail_find(j, path) != NULL)
        return 0;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || lb_tail_held(j, &st))
        return 0;
    struct lb_tfile *tf = lb_tail_add(j, path, NULL, initial);
    if (tf == NULL) {
        lb_error_set(&j->err, LB_ENOMEM, "out of memory");
        return LB_ENOMEM;
    }
    if (!initial)
        lb_info("src=%s: a new file matches the glob; following it", tf->src);
    j->need_init = 1;
    return 0;
}

/* Match the globs of d against what the directory holds now. */
static int lb_tail_glob_scan(struct lb_tail *j, struct lb_tdir *d, int initial)
{
    if (d->nglobs == 0)
        return 0;
    struct dirent **names = NULL;
    int n = scandir(d->path, &names, NULL, alphasort);
    if (n < 0)
        return 0;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        for (size_t k = 0; rc == 0 && k < d->nglobs; k++)
            if (fnmatch(d->globs[k], names[i]->d_name, FNM_PERIOD) == 0) {
                rc = lb_tail_glob_match(j, d, names[i]->d_name, initial);
                break;
            }
        free(names[i]);
    }
    free(names);
    return rc;
}

static void lb_tail_on_event(void *ctx, const struct inotify_event *ev)
{
    struct lb_tail *j = ctx;
    if (ev->mask & IN_Q_OVERFLOW) {
        lb_warn("the inotify queue overflowed; rescanning every file");
        j->rescan = 1;
        return;
    }
    enum lb_watch_kind kind;
    void *obj = lb_watchset_get(j->ws, ev->wd, &kind);
    if (obj == NULL)
        return;
    if (kind == LB_WATCH_FILE) {
        if (ev->mask & IN_IGNORED) {
            for (struct lb_gen *g = obj, *n; g != NULL; g = n) {
                n = g->wd_next;
                g->wd = -1;
                g->wd_next = NULL;
            }
            lb_watchset_forget(j->ws, ev->wd);
            return;
        }
        for (struct lb_gen *g = obj; g != NULL; g = g->wd_next) {
            struct lb_tfile *tf = g->tf;
            if (ev->mask & (IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF)) {
                if (lb_tail_reconcile(j, tf) != 0) {
                    lb_error_log("%s", j->err.msg);
                    j->fatal = 1;
                }
                if (g == tf->cur)
                    lb_tail_dirty(j, tf);
            }
            if ((ev->mask & IN_MODIFY) && g == tf->cur) {
                if (tf->state == LB_ROT_DRAINING)
                    tf->last_change = lb_clock_mono();
                lb_tail_dirty(j, tf);
            }
        }
        return;
    }
    struct lb_tdir *d = obj;
    if (ev->mask & IN_IGNORED) {
        lb_warn("directory %s is gone: its files are no longer followed", d->path);
        lb_watchset_forget(j->ws, ev->wd);
        d->wd = -1;
        return;
    }
    if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
        lb_warn("directory %s was %s: new files in it are no longer seen", d->path,
                ev->mask & IN_MOVE_SELF ? "moved" : "deleted");
        return;
    }
    if (ev->len == 0)
        return;
    for (struct lb_tfile *tf = d->files; tf != NULL; tf = tf->dir_next) {
        if (strcmp(tf->base, ev->name) != 0)
            continue;
        if (lb_tail_reconcile(j, tf) != 0) {
            lb_error_log("%s", j->err.msg);
            j->fatal = 1;
        }
        if (tf->cur != NULL)
            lb_tail_dirty(j, tf);
    }
    if (ev->mask & (IN_CREATE | IN_MOVED_TO))
        for (size_t k = 0; k < d->nglobs; k++)
            if (fnmatch(d->globs[k], ev->name, FNM_PERIOD) == 0) {
                if (lb_tail_glob_match(j, d, ev->name, 0) != 0)
                    j->fatal = 1;
                break;
            }
}

static void lb_tail_rescan(struct lb_tail *j)
{
    for (size_t i = 0; i < j->nf; i++) {
        struct lb_tfile *tf = j->f[i];
        if (lb_tail_reconcile(j, tf) != 0) {
            lb_error_log("%s", j->err.msg);
            j->fatal = 1;
            return;
        }
        if (tf->cur != NULL)
            lb_tail_dirty(j, tf);
    }
    for (struct lb_tdir *d = j->dirs; d != NULL; d = d->next)
        if (lb_tail_glob_scan(j, d, 0) != 0) {
            lb_error_log("%s", j->err.msg);
            j->fatal = 1;
            return;
        }
}

/* ---- Redis state ------------------------------------------------------------------------- */


/* After a reconnect: the checkpoint in Redis says which batches landed and
 * where the route the committer carries is read again from (the file is the
 * buffer). It may have gone back (a failover lost acknowledged writes):
 * said at warn and counted, and those lines are sent again. */
static int lb_tail_recover(struct lb_tail *j)
{
    struct lb_tfile *tf = j->cm_tf;
    struct lb_gen *g = j->cm_g;
    if (tf == NULL)
        return 0;
    uint64_t was = tf->ck_off;
    struct lb_commit_resync rs;
    int rc = lb_committer_resync(j->cm, &rs, &j->err);
    if (rc == LB_EREDIS)
        lb_redis_drop(j->r);
    if (rc != 0)
        return rc;
    if (rs.regressed) {
        lb_warn("src=%s: the checkpoint in Redis went back from off=%" PRIu64 " to off=%" PRIu64
                " (a failover that lost acknowledged writes?); bytes %" PRIu64 "-%" PRIu64
                " are sent again",
                tf->src, was, rs.off, rs.lost_from, was);
        lb_metrics_add(j->m, "logbridge_checkpoint_regressions_total", tf->l_src, 1);
    } else if (rs.moved) {
        /* another process commits this src: the fences keep both exact;
         * said once, as they may take turns for as long as both run */
        lb_log(j->moved_said++ ? LB_LOG_DEBUG : LB_LOG_WARN,
               "src=%s: the checkpoint was moved to off=%" PRIu64
               " by someone else (another logbridge following this file?); going on from there",
               tf->src, rs.off);
    }
    if (rs.restart)
        g->start_commit = 1;
    if (lb_gen_rewind(j, g, rs.off) != 0)
        return lb_error_set(&j->err, LB_EIO, "src=%s: cannot read %s again from off=%" PRIu64,
                            tf->src, g->where, rs.off);
    tf->end_off = rs.off;
    tf->end_line = rs.line;
    lb_tail_dirty(j, tf);
    return 0;
}

static void lb_tail_reconnect(struct lb_tail *j)
{
    int rc = lb_redis_connect(j->r, &j->err);
    if (rc == 0)
        rc = lb_tail_recover(j);
    if (rc == 0) {
        j->up = 1;
        lb_tail_watch_redis(j);
        unsigned long n = lb_redis_reconnects(j->r);
        if (n > j->reconnects_seen)
            lb_metrics_add(j->m, "logbridge_redis_reconnects_total", "",
                           (double)(n - j->reconnects_seen));
        j->reconnects_seen = n;
        if (j->unreachable > 0)
            lb_info("redis at %s is reachable again after %u attempts; reading resumes",
                    lb_redis_addr(j->r), j->unreachable + 1);
        j->unreachable = 0;
        j->attempt++; /* until a batch lands: a refusal that lasts backs off further */
        return;
    }
    if (rc == LB_EREDIS) {
        j->unreachable++;
        j->attempt++;
        j->next_try = lb_clock_mono() + lb_backoff(j->attempt);
        return;
    }
    lb_error_log("%s", j->err.msg);
    j->fatal = 1;
}

/* ---- the loop ------------------------------------------------------------------------------ */

static void lb_tail_metrics(struct lb_tail *j)
{
    for (size_t i = 0; i < j->nf; i++) {
        struct lb_tfile *tf = j->f[i];
        if (tf->cur != NULL && !tf->cur->gz) {
            long long size = lb_source_size(tf->cur->s);
            if (size >= 0 && (uint64_t)size > tf->cur->seen)
                tf->cur->seen = (uint64_t)size;
            lb_tail_lag(j, tf);
        }
    }
    struct lb_error e;
    if (lb_metrics_write(j->m, &e) != 0)
        lb_warn("%s", e.msg);
    j->metrics_next = lb_clock_mono() + 5.0;
}

/* Arm the timerfd for the earliest thing due; disarm it when nothing is. */
static void lb_tail_arm(struct lb_tail *j)
{
    double due = INFINITY;
    if (!j->up)
        due = j->next_try;
    if (j->own_metrics && j->metrics_next < due)
        due = j->metrics_next;
    if (j->ndraining > 0)
        for (size_t i = 0; i < j->nf; i++) {
            struct lb_tfile *tf = j->f[i];
            if (tf->state == LB_ROT_DRAINING && tf->cur != NULL && !tf->dirty &&
                tf->last_change + j->o->rotate_wait < due)
                due = tf->last_change + j->o->rotate_wait;
        }
    if (due == j->armed)
        return;
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    if (due != INFINITY) {
        if (due < 1e-3)
            due = 1e-3;
        its.it_value.tv_sec = (time_t)due;
        its.it_value.tv_nsec = (long)((due - (double)(time_t)due) * 1e9);
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
            its.it_value.tv_nsec = 1;
    }
    timerfd_settime(j->tfd, TFD_TIMER_ABSTIME, &its, NULL);
    j->armed = due;
}

/* What is due now: expired rotate-waits make their routes dirty. */
static void lb_tail_due(struct lb_tail *j)
{
    double now = lb_clock_mono();
    if (!j->up && now >= j->next_try)
        lb_tail_reconnect(j);
    if (j->own_metrics && now >= j->metrics_next)
        lb_tail_metrics(j);
    if (j->ndraining > 0)
        for (size_t i = 0; i < j->nf; i++) {
            struct lb_tfile *tf = j->f[i];
            if (tf->state == LB_ROT_DRAINING && tf->cur != NULL &&
                now >= tf->last_change + j->o->rotate_wait)
                lb_tail_dirty(j, tf);
        }
}

static void lb_tail_work(struct lb_tail *j)
{
    if (j->rescan) {
        j->rescan = 0;
        lb_tail_rescan(j);
    }
    if (j->need_init) {
        /* the checkpoint loads share the connection with the batches */
        if (lb_tail_drain(j) != LB_T_OK)
            return;
        for (size_t i = 0; i < j->nf && j->up && !j->fatal; i++)
            if (!j->f[i]->inited && lb_tail_init(j, j->f[i]) != LB_T_OK)
                return;
        j->need_init = 0;
    }
    for (int n = 0; n < LB_TAIL_TURN_FILES && j->up && !j->fatal && j->dhead != NULL; n++) {
        struct lb_tfile *tf = lb_tail_pop_dirty(j);
        int rc = lb_tail_service(j, tf);
        if (rc == LB_T_OK) {
            tf->dirty = 0;
        } else if (rc == LB_T_MORE) {
            tf->dirty = 0;
            lb_tail_dirty(j, tf);
        } else if (rc == LB_T_BLOCKED) {
            lb_tail_push_front(j, tf);
            return;
        } else {
            tf->dirty = 0;
            return;
        }
    }
}

static int lb_tail_events(struct lb_tail *j, int timeout_ms)
{
    struct epoll_event evs[8];
    int n = epoll_wait(j->ep, evs, 8, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        switch (evs[i].data.u32) {
        case LB_EV_INOTIFY:
            if (lb_watchset_drain(j->ws, lb_tail_on_event, j, &j->err) != 0) {
                lb_error_log("%s", j->err.msg);
                j->fatal = 1;
            }
            break;
        case LB_EV_SIGNAL: {
            struct signalfd_siginfo si;
            while (read(j->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGHUP) {
                    if (lb_log_reopen() != 0)
                        lb_warn("cannot reopen the log file: %s", strerror(errno));
                } else {
                    j->stop = 1;
                }
            }
            break;
        }
        case LB_EV_TIMER: {
            uint64_t x;
            if (read(j->tfd, &x, sizeof(x)) < 0 && errno != EAGAIN)
                lb_debug("timerfd: %s", strerror(errno));
            j->armed = -1; /* fired (or about to): re-arm */
            break;
        }
        case LB_EV_STOP:
            /* The run's eventfd is shared with its other jobs: not read. */
            j->stop = 1;
            break;
        case LB_EV_REDIS:
            lb_tail_on_redis(j);
            break;
        }
    }
    return 0;
}

static int lb_tail_loop(struct lb_tail *j)
{
    for (;;) {
        if (j->env->stop != NULL && atomic_load(j->env->stop))
            j->stop = 1;
        if (j->fatal || j->stop)
            break;
        if (j->up)
            lb_tail_work(j);
        if (j->fatal || j->stop)
            break;
        /* --once drains every generation it knows: one rotated away is
         * finished --rotate-wait after its last change (late writers), then
         * the next one is read, the file at the path last. */
        if (j->o->once && j->up && j->dhead == NULL && !j->need_init && !j->rescan &&
            j->ndraining == 0) {
            if (lb_tail_drain(j) != LB_T_OK)
                continue; /* down: wait for redis, then read again */
            break;
        }
        lb_tail_arm(j);
        int busy = j->up && (j->dhead != NULL || j->need_init || j->rescan);
        if (lb_tail_events(j, busy ? 0 : -1) != 0) {
            lb_error_log("epoll_wait: %s", strerror(errno));
            j->fatal = 1;
            break;
        }
        lb_tail_due(j);
    }
    /* Stopping: read what the files hold now and commit it (for at most
     * 2 s, as a writer may never pause), so that what was written before the
     * signal is in the stream, as an operator stopping a shipper expects. */
    if (j->stop && !j->fatal && j->up) {
        if (lb_watchset_drain(j->ws, lb_tail_on_event, j, &j->err) != 0)
            lb_debug("%s", j->err.msg);
        for (size_t i = 0; i < j->nf; i++)
            lb_tail_dirty(j, j->f[i]);
        double deadline = lb_clock_mono() + 2.0;
        while (j->up && !j->fatal && (j->dhead != NULL || j->need_init) && lb_clock_mono() < deadline) {
            if (lb_tail_drain(j) != LB_T_OK)
                break;
            lb_tail_work(j);
        }
    }
    if (j->up && !j->fatal)
        lb_tail_drain(j);
    if (!j->up && j->cm_tf != NULL && !j->fatal)
        lb_warn("stopping while redis at %s is unreachable or refusing: src=%s is committed up "
                "to off=%" PRIu64 "; the rest is read again on the next start",
                lb_redis_addr(j->r), j->cm_tf->src, j->cm_tf->ck_off);
    return j->fatal ? LB_EXIT_RUNTIME : LB_EXIT_OK;
}

/* ---- setup ---------------------------------------------------------------------------------- */

static int lb_tail_epoll_add(struct lb_tail *j, int fd, uint32_t tag)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u32 = tag;
    return epoll_ctl(j->ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Routes from the PATHs and GLOBs; directories to watch. */
static int lb_tail_routes(struct lb_tail *j)
{
    const struct lb_tail_opts *o = j->o;
    for (int i = 0; i < o->npaths; i++) {
        char abs[PATH_MAX];
        if (lb_abs_path(o->paths[i], abs, sizeof(abs)) != 0)
            return lb_error_set(&j->err, LB_EIO, "%s: path too long", o->paths[i]);
        char *slash = strrchr(abs, '/');
        const char *base = slash + 1;
        if (*base == '\0')
            return lb_error_set(&j->err, LB_EIO, "%s: not a file name", o->paths[i]);
        if (lb_has_glob(base)) {
            char dir[PATH_MAX];
            size_t dn = slash == abs ? 1 : (size_t)(slash - abs);
            snprintf(dir, sizeof(dir), "%.*s", (int)dn, abs);
            struct lb_tdir *d = lb_tail_dir(j, dir);
            char **g = d ? realloc(d->globs, (d->nglobs + 1) * sizeof(*g)) : NULL;
            if (g == NULL)
                return lb_error_set(&j->err, LB_ENOMEM, "out of memory");
            d->globs = g;
            if ((d->globs[d->nglobs] = strdup(base)) == NULL)
                return lb_error_set(&j->err, LB_ENOMEM, "out of memory");
            d->nglobs++;
        } else if (lb_tail_add(j, abs, o->name, 1) == NULL) {
            return lb_error_set(&j->err, LB_ENOMEM, "out of memory");
        }
    }
    if (j->ws != NULL) {
        size_t ndirs = 0;
        for (struct lb_tdir *d = j->dirs; d != NULL; d = d->next)
            ndirs++;
        for (struct lb_tdir *d = j->dirs; d != NULL; d = d->next) {
            int wd;
            int rc = lb_watchset_add(j->ws, d->path, LB_DIR_MASK, LB_WATCH_DIR, d, ndirs + j->nf,
                                     &wd, &j->err);
            if (rc < 0)
                return rc;
            if (rc == 1) {
                /* the same directory under another name: its twin gets the events */
                lb_warn("%s is the same directory as another one followed; use one name for it",
                        d->path);
                continue;
            }
            d->wd = wd;
        }
    }
    for (struct lb_tdir *d = j->dirs; d != NULL; d = d->next)
        if (lb_tail_glob_scan(j, d, 1) != 0)
            return LB_ENOMEM;
    j->need_init = 1;
    return 0;
}

static void lb_tail_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void lb_tail_free(struct lb_tail *j)
{
    for (size_t i = 0; i < j->nf; i++)
        lb_tfile_free(j, j->f[i]);
    free(j->f);
    while (j->dirs != NULL) {
        struct lb_tdir *d = j->dirs;
        j->dirs = d->next;
        for (size_t k = 0; k < d->nglobs; k++)
            free(d->globs[k]);
        free(d->globs);
        free(d->path);
        free(d);
    }
    free(j->retired);
    lb_watchset_destroy(j->ws);
    if (j->ep >= 0)
        close(j->ep);
    if (j->sfd >= 0)
        close(j->sfd);
    if (j->tfd >= 0)
        close(j->tfd);
    lb_committer_destroy(j->cm);
    lb_sink_destroy(j->sink);
    lb_feed_destroy(j->feed);
    lb_redis_destroy(j->r);
    if (j->own_metrics)
        lb_metrics_destroy(j->m);
}

int lb_tail_run(const struct lb_tail_opts *o, const struct lb_common *c,
                const struct lb_job_env *env)
{
    struct lb_tail j;
    memset(&j, 0, sizeof(j));
    j.o = o;
    j.c = c;
    j.env = env;
    j.ep = j.sfd = j.tfd = -1;
    j.armed = INFINITY;
    int rc = LB_EXIT_RUNTIME;
    lb_tail_raise_nofile();

    struct lb_redis_cfg cfg;
    if (lb_redis_url_parse(c->redis_url, &cfg, &j.err) != 0) {
        lb_error_log("--redis: %s", j.err.msg);
        return LB_EXIT_USAGE;
    }
    struct lb_sink_opts so = {
        .stream = o->stream,
        .provenance = c->provenance,
        .json_encoding = c->json_encoding,
        .json_field = c->json_field,
        .maxlen = o->maxlen,
        .trim_ignore_groups = o->trim_ignore_groups,
        .batch_max = (size_t)o->batch,
    };
    j.r = lb_redis_create(&cfg);
    j.sink = lb_sink_create(&so, &j.err);
    j.feed = lb_feed_create(c->jsonl, c->json_encoding, c->max_line + 1 + 256 * 1024, &j.err);
    if (env->metrics != NULL) {
        j.m = env->metrics;
    } else {
        j.m = lb_metrics_create(c->metrics_file);
        j.own_metrics = c->metrics_file != NULL;
        if (j.m != NULL && !j.own_metrics) {
            lb_metrics_destroy(j.m);
            j.m = NULL;
        }
    }
    j.metrics_next = lb_clock_mono() + 5.0;
    lb_metrics_labels(j.l_stream, sizeof(j.l_stream), "stream", o->stream, NULL);
    j.cm = lb_committer_create(j.sink, j.feed, j.r, LB_TAIL_FLIGHTS, lb_tail_on_ckpt, &j);
    if (j.r == NULL || j.sink == NULL || j.feed == NULL || j.cm == NULL ||
        (c->metrics_file && j.m == NULL)) {
        lb_error_log("out of memory");
        goto done;
    }

    j.ep = epoll_create1(EPOLL_CLOEXEC);
    j.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (j.ep < 0 || j.tfd < 0 || lb_tail_epoll_add(&j, j.tfd, LB_EV_TIMER) != 0) {
        lb_error_log("epoll/timerfd: %s", strerror(errno));
        goto done;
    }
    if (env->stop_fd >= 0) {
        if (lb_tail_epoll_add(&j, env->stop_fd, LB_EV_STOP) != 0) {
            lb_error_log("epoll: %s", strerror(errno));
            goto done;
        }
    } else {
        /* Standalone: signals arrive through the loop, never mid-write. */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGHUP);
        sigprocmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);
        j.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (j.sfd < 0 || lb_tail_epoll_add(&j, j.sfd, LB_EV_SIGNAL) != 0) {
            lb_error_log("signalfd: %s", strerror(errno));
            goto done;
        }
    }
    if (!o->once) {
        j.ws = lb_watchset_create(&j.err);
        if (j.ws == NULL || lb_tail_epoll_add(&j, lb_watchset_fd(j.ws), LB_EV_INOTIFY) != 0) {
            lb_error_log("%s", j.ws == NULL ? j.err.msg : strerror(errno));
            goto done;
        }
    }
    if (lb_tail_routes(&j) != 0) {
        lb_error_log("%s", j.err.msg);
        goto done;
    }
    int crc = lb_redis_connect(j.r, &j.err);
    if (crc == 0) {
        j.up = 1;
        lb_tail_watch_redis(&j);
    } else if (crc == LB_EREDIS) {
        lb_tail_down(&j, NULL);
    } else {
        lb_error_log("%s", j.err.msg);
        goto done;
    }
    lb_info("tail: following %zu file(s) into stream=%s%s", j.nf, o->stream,
            o->once ? " (once)" : "");
    rc = lb_tail_loop(&j);
done:
    if (j.own_metrics && j.m != NULL) {
        lb_tail_metrics(&j);
    }
    lb_tail_free(&j);
    return rc;
}

/* ---- options --------------------------------------------------------------------------------- */

#define LB_T struct lb_tail_opts
static const struct lb_opt lb_tail_opt_table[] = {
    LB_OPT_STR("stream", LB_T, stream, "a stream name", "S",
               "target stream, or a template such as 'events:%{type}'", LB_OPTF_REQUIRED),
    LB_OPT_CHOICE("from", LB_T, from_end, "start|end", "start|end",
                  "where a file without a checkpoint starts (default start)", LB_OPTF_NUMOK),
    LB_OPT_NUM("batch", LB_ARG_INT, LB_T, batch, 1, 100000, "a number from 1 to 100000", "N",
               "most lines per atomic batch (default 1000)", 0),
    LB_OPT_NUM("maxlen", LB_ARG_INT, LB_T, maxlen, 1, LLONG_MAX, "a positive integer", "N",
               "trim the stream to about N entries, never dropping\n"
               "entries a consumer group has not read and acknowledged",
               0),
    LB_OPT_FLAG("trim-ignore-groups", LB_T, trim_ignore_groups, 1,
                "trim to --maxlen even past unread entries", 0),
    LB_OPT_NUM("rotate-wait", LB_ARG_DOUBLE, LB_T, rotate_wait, 0, 86400,
               "seconds from 0 to 86400", "SEC",
               "keep reading a rotated-away file for SEC s after its\n"
               "last change (default 5)",
               0),
    LB_OPT_STR("name", LB_T, name, "a name", "NAME",
               "src name instead of the absolute path (one PATH only)", 0),
    LB_OPT_FLAG("once", LB_T, once, 1, "read what is there now, commit, exit", 0),
    LB_OPT_END,
};
#undef LB_T

const struct lb_optspec lb_tail_optspec = {
    .usage = "Usage: logbridge tail --stream S [options] PATH|GLOB...\n"
             "Follow live files (inotify) and append each line to stream S, exactly once,\n"
             "across restarts, rotation (rename, copytruncate, delete) and Redis outages.\n"
             "A GLOB (wildcards in the file name only, e.g. '/var/log/app/*.log') also\n"
             "picks up files created later; let it match the live names only, not the\n"
             "rotated ones (app.log.1): those are found and finished by the rotation logic.\n",
    .opts = lb_tail_opt_table,
    .common_off = offsetof(struct lb_tail_opts, c),
    .operands = 1,
    .input = 1,
};

int lb_tail_opts_parse(struct lb_tail_opts *o, int argc, char **argv, const struct lb_cli *cli)
{
    memset(o, 0, sizeof(*o));
    lb_common_defaults(&o->c);
    o->batch = LB_TAIL_DEFAULT_BATCH;
    o->rotate_wait = LB_TAIL_DEFAULT_ROTATE_WAIT;
    int first;
    int rc = lb_opts_parse(&lb_tail_optspec, o, argc, argv, cli, &first);
    if (rc != 0)
        return rc;
    o->paths = argv + first;
    o->npaths = argc - first;
    const char *paths_opt = cli->prefix != NULL ? "paths" : NULL;
    if (o->npaths == 0)
        return lb_cli_error(cli, paths_opt, "expected at least one PATH or GLOB");
    for (int i = 0; i < o->npaths; i++) {
        const char *p = o->paths[i];
        const char *slash = strrchr(p, '/');
        if (*p == '\0' || (slash != NULL && slash[1] == '\0'))
            return lb_cli_error(cli, paths_opt, "'%s' is not a file name", p);
        if (slash != NULL && strpbrk(p, "*?[") != NULL && strpbrk(p, "*?[") < slash)
            return lb_cli_error(cli, paths_opt,
                                "'%s': wildcards are supported in the file name only, not in "
                                "directories",
                                p);
    }
    if (o->name != NULL && (o->npaths > 1 || lb_has_glob(o->paths[0])))
        return lb_cli_error(cli, "name", "applies to a single file (one PATH, not a GLOB)");
    return 0;
}

int lb_cmd_tail(int argc, char **argv)
{
    struct lb_tail_opts o;
    struct lb_cli cli = {"tail", NULL};
    int rc = lb_tail_opts_parse(&o, argc, argv, &cli);
    if (rc != 0)
        return rc < 0 ? LB_EXIT_OK : rc;
    if ((rc = lb_common_start(&o.c, &cli)) != 0)
        return rc;
    struct lb_job_env env = {.stop_fd = -1, .stop = NULL, .hup = NULL, .metrics = NULL};
    rc = lb_tail_run(&o, &o.c, &env);
    lb_log_close();
    return rc;
}
