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

/* What the generation we look for is known by. */
struct lb_rot_want {
    int by_inode; /* try dev/ino first */
    unsigned long long dev, ino;
    int skip; /* never take this file (e.g. the truncated one) */
    unsigned long long skip_dev, skip_ino;
    uint64_t off;       /* it holds at least this many bytes */
    size_t fp_len;      /* its first fp_len bytes have fingerprint fp; */
    char fp[LB_FP_HEX]; /* fp_len 0: only an inode match counts */
};

struct lb_rot_found {
    struct lb_source *s; /* open, at offset 0 (plain file or gzip); caller closes */
    char path[4096];
    int gz;
    double mtime; /* CLOCK_REALTIME seconds */
    unsigned long long dev, ino;
    long long size; /* on disk (compressed for gzip) */
};

/* Look in dir for the generation w describes: first the file with its
 * dev/inode (and fingerprint), then any plain file whose first fp_len bytes
 * match (names starting with base, the live file's name, first, then the
 * newest), then gzip files named base* whose decompressed first bytes match.
 * Returns 1 with *out filled, or 0. */
int lb_rot_find(const char *dir, const char *base, const struct lb_rot_want *w, size_t max_line,
                struct lb_rot_found *out);

/* The birth time of an open file (statx STATX_BTIME, CLOCK_REALTIME
 * seconds), or -1 when the file system does not keep it. */
double lb_rot_btime(int fd);

/* Generations rotated in between: the plain files of dir named base* (but
 * not base itself) born from `after` to `before` (birth times, inclusive:
 * they come from a coarse clock),
 * oldest first, leaving out those skip() says are known. Sets *out to a
 * malloc'ed array (each entry's source open; caller closes them and frees
 * the array) and returns its length; 0 when there are none or birth times
 * are unknown. */
size_t lb_rot_between(const char *dir, const char *base, double after, double before,
                      int (*skip)(void *ctx, unsigned long long dev, unsigned long long ino),
                      void *ctx, size_t max_line, struct lb_rot_found **out);

#endif
