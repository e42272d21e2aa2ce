/*
 * tail_int.h - what crosses the files of `logbridge tail` (internal to
 * tail*.c; `run` uses tail.h only):
 *  - the inotify watch set (tail_watch.c);
 *  - the rotation finder and the rotation state of a route (tail_rotate.c);
 *  - the job (struct lb_tail), its routes (struct lb_tfile) and their
 *    generations (struct lb_gen), and the functions one file of the job calls
 *    in another: the loop (tail.c), the routes and their directories
 *    (tail_route.c), the generations (tail_gen.c), the changes of a route's
 *    current generation (tail_state.c), reading and committing (tail_read.c).
 */
#ifndef LB_TAIL_INT_H
#define LB_TAIL_INT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "clock.h"
#include "checkpoint.h"
#include "committer.h"
#include "error.h"
#include "source.h"
#include "tail.h"

/* ---- watch set: one inotify instance and a map wd -> object ------------------ */

enum lb_watch_kind { LB_WATCH_DIR = 1, LB_WATCH_FILE = 2 };

struct lb_watchset;

/* inotify_init1(IN_NONBLOCK | IN_CLOEXEC). On EMFILE the message names
 * /proc/sys/fs/inotify/max_user_instances. NULL with err set. */
struct lb_watchset *lb_watchset_create(struct lb_error *err);
void lb_watchset_destroy(struct lb_watchset *ws);
int lb_watchset_fd(const struct lb_watchset *ws);

/* Watch path (follows symlinks, so "/proc/self/fd/N" watches the inode of an
 * open fd). Returns 0 with *wd set and the object recorded; 1 when the inode
 * was already watched (same wd: *wd set, the existing object is kept, see
 * lb_watchset_get); or a negative lb_err. On ENOSPC the message names
 * /proc/sys/fs/inotify/max_user_watches and `needed`. */
int lb_watchset_add(struct lb_watchset *ws, const char *path, uint32_t mask,
                    enum lb_watch_kind kind, void *obj, size_t needed, int *wd,
                    struct lb_error *err);

/* The object of wd (and its kind), or NULL when wd is unknown. */
void *lb_watchset_get(const struct lb_watchset *ws, int wd, enum lb_watch_kind *kind);
/* Replace the object of a known wd. */
void lb_watchset_set(struct lb_watchset *ws, int wd, void *obj);
/* inotify_rm_watch and forget wd. */
void lb_watchset_remove(struct lb_watchset *ws, int wd);
/* Forget wd without rm_watch (the kernel dropped it: IN_IGNORED). */
void lb_watchset_forget(struct lb_watchset *ws, int wd);
size_t lb_watchset_count(const struct lb_watchset *ws);

/* Read every queued event (until EAGAIN; EINTR retried) and call fn for
 * each. Returns 0 or LB_EIO. */
typedef void (*lb_watch_fn)(void *ctx, const struct inotify_event *ev);
int lb_watchset_drain(struct lb_watchset *ws, lb_watch_fn fn, void *ctx, struct lb_error *err);

/* ---- rotation finder ------------------------------------------------------------ */

/* A generation is known by its identity: dev, inode and the fingerprint of
 * its first bytes together (an inode is reused by new files, a name moves
 * with every rotation, and a copy has the bytes under a new inode). */
struct lb_rot_ident {
    unsigned long long dev, ino;
    uint64_t off;       /* it holds at least this many bytes */
    size_t fp_len;      /* its first fp_len bytes have fingerprint fp */
    char fp[LB_FP_HEX]; /* (fp_len 0: the inode alone) */
};

struct lb_rot_found {
    struct lb_source *s; /* open, at offset 0 (plain file or gzip); caller closes */
    char path[4096];
    int gz;
    int copy;     /* the checkpointed content under another inode (a copy) */
    double mtime; /* CLOCK_REALTIME seconds */
    double key;   /* birth order: birth time, or mtime where unknown or gzip */
    unsigned long long dev, ino;
    long long size; /* on disk (compressed for gzip) */
};

/* Where the generations of a route may be: the directory of its path, and
 * that of the path's symlink target when it is elsewhere. A file is of the
 * route's family when its name starts with a stem (a live or target name up
 * to its first '.') followed by a non-alphanumeric byte or its end: siblings
 * rotated at the same moment (syslog.1 next to app.log.1) are not taken. */
struct lb_rot_query {
    const char *dirs[2];
    size_t ndirs;
    const char *stems[2];
    size_t nstems;
    /* The checkpointed generation to locate (NULL: none; look after
     * `after` only). */
    const struct lb_rot_ident *ck;
    /* Without ck: generations born after this key (CLOCK_REALTIME s,
     * inclusive, since file times tick coarsely). ck not found: those
     * changed after it (the time of the last commit). <= 0: no generations
     * in between are looked for then. */
    double after;
    /* The file now at the path (never returned), and its birth key. */
    int has_live;
    unsigned long long live_dev, live_ino;
    double live_key;
    /* Generations that are held or were finished (never returned). */
    int (*skip)(void *ctx, unsigned long long dev, unsigned long long ino);
    void *ctx;
};

/* The generations of a route since its checkpoint, oldest first: the
 * checkpointed one, looked for by identity among every file of the
 * directories (its inode with its fingerprint; else a plain file of the
 * family with its first bytes and at least off bytes; else a .gz of the
 * family whose decompressed first bytes match), then those of the family born
 * after it and not after the live file (copytruncate leaves the live inode
 * old: then no upper bound), each to be read whole. *ck_found says whether
 * the first entry is the checkpointed one. Returns the count (out malloc'ed,
 * sources open; caller closes them and frees the array). */
size_t lb_rot_chain(const struct lb_rot_query *q, size_t max_line, struct lb_rot_found **out,
                    int *ck_found);

/* The stem of a file name: up to its first '.' (the whole name without
 * one). */
void lb_rot_stem(const char *name, char *out, size_t cap);

/* The birth time of an open file (statx STATX_BTIME, CLOCK_REALTIME
 * seconds), or -1 when the file system does not keep it. */
double lb_rot_btime(int fd);

/* ---- the rotation state of a route --------------------------------------------- */

/* One state per route; lb_rot_next is the only place that says how it
 * changes, and tail.c's lb_tail_enter the only place that changes it. */
enum lb_rot_state {
    LB_ROT_WAITING = 0, /* no generation: the path is followed when a file appears */
    LB_ROT_LIVE,        /* reading the file at the path as it grows */
    LB_ROT_DRAINING     /* reading a generation no longer at the path (renamed,
                         * deleted, a copy, a .gz, one found after rotations
                         * while stopped): read to its end, and finished when it
                         * has not changed for --rotate-wait (gzip: at once) */
};

enum lb_rot_event {
    LB_ROT_EV_CURRENT,   /* a generation became current; arg: it is at the path */
    LB_ROT_EV_LEFT_PATH, /* the current generation is no longer at the path */
    LB_ROT_EV_AT_PATH,   /* the current generation is at the path (again) */
    LB_ROT_EV_NONE       /* no generation left to read */
};

enum lb_rot_state lb_rot_next(enum lb_rot_state s, enum lb_rot_event ev, int at_path);
const char *lb_rot_state_name(enum lb_rot_state s);

/* ---- the job ------------------------------------------------------------------- */

/* Results of the job's steps: go on, more to do (the route's turn is over),
 * Redis is down (wait for it), stop; LB_T_GO: lb_tail_fresh says read. */
enum { LB_T_OK = 0, LB_T_MORE = 1, LB_T_BLOCKED = 2, LB_T_FATAL = 3, LB_T_GO = 4 };
/* What woke epoll (epoll_event.data.u32). */
enum { LB_EV_INOTIFY = 1, LB_EV_TIMER, LB_EV_STOP, LB_EV_REDIS };

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
    int initial;             /* named or matched at start: --from applies */
    int inited;              /* its checkpoint was loaded */

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
    int missing; /* does not exist (yet): looked for every LB_TAIL_DIR_SEC (--allow-missing-dirs) */
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
    struct lb_metrics *m; /* the process's (job.h), NULL when nobody reads metrics */
    double lag_next;      /* when logbridge_lag_bytes is looked at again */
    char l_job[160];      /* job="tail" */

    int ep, tfd;
    struct lb_watchset *ws;
    double armed;

    struct lb_tfile **f;
    size_t nf, capf;
    struct lb_tdir *dirs;
    struct lb_tfile *dhead, *dtail;
    size_t ndraining; /* routes in LB_ROT_DRAINING */

    int up;
    unsigned attempt;     /* backoff: reset when a batch lands, not on reconnect */
    int troubled;         /* Redis refused or went away since the last batch landed */
    unsigned unreachable; /* failed connection attempts in a row */
    unsigned moved_said;  /* checkpoints moved by another process (warned once) */
    double next_try;
    int need_init, rescan;
    size_t nmissing;                 /* directories waited for (--allow-missing-dirs) */
    double dirs_next;                /* when they are looked for again */
    struct lb_redis_seen redis_seen; /* counters already in the metrics */

    unsigned long long *retired; /* dev, ino pairs of finished generations */
    size_t nret, capret;

    int stop, fatal, trim_blocked;
    unsigned long wait_shorts; /* WAIT shortfalls (--wait-replicas), warned once */
    char l_stream[1200];
    struct lb_error err;
};

/* Where tf's generations may be: its directory and its symlink target's
 * (rotatelogs -l, container log links), names of the family of both. */
struct lb_tail_where {
    char tdir[PATH_MAX];
    char stems[2][NAME_MAX + 1];
};

/* ---- routes, directories, events (tail_route.c) --------------------------- */

int lb_has_glob(const char *s);
void lb_tail_dirty(struct lb_tail *j, struct lb_tfile *tf);
struct lb_tfile *lb_tail_pop_dirty(struct lb_tail *j);
void lb_tail_push_front(struct lb_tail *j, struct lb_tfile *tf);
void lb_tfile_free(struct lb_tail *j, struct lb_tfile *tf);
void lb_tail_on_event(void *ctx, const struct inotify_event *ev);
void lb_tail_rescan(struct lb_tail *j);
int lb_tail_routes(struct lb_tail *j);
void lb_tail_look_dirs(struct lb_tail *j);

#define LB_TAIL_DIR_SEC 1.0 /* how often a missing directory is looked for */

/* ---- generations (tail_gen.c) --------------------------------------------- */

ssize_t lb_pread_full(int fd, void *buf, size_t n, uint64_t off);
void lb_gen_free(struct lb_tail *j, struct lb_gen *g);
int lb_gen_watch(struct lb_tail *j, struct lb_gen *g);
struct lb_gen *lb_gen_open(struct lb_tail *j, struct lb_tfile *tf, const char *path, int *fatal);
int lb_gen_seek(struct lb_gen *g, uint64_t off, struct lb_error *err);
int lb_gen_same(const struct lb_gen *g, const struct stat *st);
int lb_tail_fp(void *ctx, uint64_t off, char hex[LB_FP_HEX]);
void lb_gen_note(struct lb_gen *g, const struct lb_line *line);
int lb_gen_truncated(const struct lb_gen *g);
int lb_gen_rewind(struct lb_tail *j, struct lb_gen *g, uint64_t off);
double lb_gen_changed(const struct lb_gen *g);
void lb_tail_retire(struct lb_tail *j, const struct lb_gen *g);
int lb_tail_held(const struct lb_tail *j, const struct stat *st);
int lb_tail_known(void *ctx, unsigned long long dev, unsigned long long ino);
double lb_gen_key(const struct lb_gen *g);
void lb_tail_query(const struct lb_tfile *tf, struct lb_tail_where *w, struct lb_rot_query *q);
struct lb_gen *lb_tail_gens(struct lb_tail *j, struct lb_tfile *tf, struct lb_rot_found *f,
                            size_t n, int ck_found, const struct lb_ckpt *ck, int *fatal);
void lb_gens_free(struct lb_tail *j, struct lb_gen *g);
void lb_tail_query_live(struct lb_tail *j, const struct lb_tfile *tf, const struct lb_gen *live,
                        struct lb_tail_where *w, struct lb_rot_query *q);
struct lb_gen *lb_tail_chain(struct lb_tail *j, struct lb_tfile *tf, const struct lb_rot_query *q,
                             const struct lb_ckpt *ck, int *ck_found, int *fatal);
void lb_gen_append(struct lb_gen **head, struct lb_gen *g);

/* ---- changes of the current generation (tail_state.c) --------------------- */

int lb_tail_reconcile(struct lb_tail *j, struct lb_tfile *tf);
int lb_tail_next_gen(struct lb_tail *j, struct lb_tfile *tf);
int lb_tail_finish(struct lb_tail *j, struct lb_tfile *tf);
int lb_tail_truncated(struct lb_tail *j, struct lb_tfile *tf, uint64_t read_to);
int lb_tail_fresh(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g);
int lb_tail_init(struct lb_tail *j, struct lb_tfile *tf);

/* ---- reading and committing (tail_read.c) --------------------------------- */

void lb_tail_on_ckpt(void *ctx, const struct lb_commit_event *ev);
void lb_tail_down(struct lb_tail *j, struct lb_tfile *tf);
void lb_tail_unbind(struct lb_tail *j, const struct lb_gen *g);
int lb_tail_commit(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g);
int lb_tail_drain(struct lb_tail *j);
void lb_tail_watch_redis(struct lb_tail *j);
void lb_tail_on_redis(struct lb_tail *j);
int lb_tail_line(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g,
                 const struct lb_line *line);
int lb_tail_ckpt_load(struct lb_tail *j, const char *src, struct lb_ckpt *ck);
void lb_tail_lag(struct lb_tail *j, struct lb_tfile *tf);
int lb_tail_service(struct lb_tail *j, struct lb_tfile *tf);
void lb_tail_reconnect(struct lb_tail *j);

#endif
