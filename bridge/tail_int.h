/*
 * tail_int.h - the pieces of `logbridge tail` that live in their own files:
 * the inotify watch set (tail_watch.c) and the rotation finder
 * (tail_rotate.c). Internal to tail*.c; `run` uses tail.h only.
 */
#ifndef LB_TAIL_INT_H
#define LB_TAIL_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/inotify.h>

#include "error.h"
#include "source.h"

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

#endif
