/*
 * tail_route.c - the routes of a tail job (struct lb_tfile: one src each)
 * and their directories (struct lb_tdir): the routes made from the PATHs and
 * GLOBs, the watch of their directories, files that a glob matches later,
 * the inotify events dispatched to routes, the rescan after a queue
 * overflow, and the queue of dirty routes that the loop services in turns.
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

#define LB_DIR_MASK                                                                                \
    (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF |         \
     IN_ONLYDIR)

int lb_has_glob(const char *s)
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

/* ---- routes ------------------------------------------------------------------------ */

void lb_tail_dirty(struct lb_tail *j, struct lb_tfile *tf)
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

struct lb_tfile *lb_tail_pop_dirty(struct lb_tail *j)
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

void lb_tail_push_front(struct lb_tail *j, struct lb_tfile *tf)
{
    tf->dnext = j->dhead;
    j->dhead = tf;
    if (j->dtail == NULL)
        j->dtail = tf;
}

void lb_tfile_free(struct lb_tail *j, struct lb_tfile *tf)
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
    lb_metrics_add(j->m, "logbridge_lines_total", tf->l_written, 0);
    lb_metrics_add(j->m, "logbridge_lines_total", tf->l_bad, 0);
    lb_metrics_add(j->m, "logbridge_lines_total", tf->l_blank, 0);
    lb_metrics_add(j->m, "logbridge_bytes_read_total", tf->l_src, 0);
    lb_metrics_add(j->m, "logbridge_lost_bytes_total", tf->l_src, 0);
    lb_metrics_add(j->m, "logbridge_checkpoint_regressions_total", tf->l_src, 0);
    tf->dir_next = tf->dir->files;
    tf->dir->files = tf;
    j->f[j->nf++] = tf;
    return tf;
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
        lb_info_kv(LB_FIELDS(LB_F_STR("src", tf->src)),
                   "a new file matches the glob; following it");
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

void lb_tail_on_event(void *ctx, const struct inotify_event *ev)
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
        lb_watchset_forget(j->ws, ev->wd);
        d->wd = -1;
        if (j->o->allow_missing_dirs) {
            lb_warn_kv(LB_FIELDS(LB_F_STR("dir", d->path)),
                       "the directory is gone: waiting for it to come back");
            d->missing = 1;
            j->nmissing++;
            j->dirs_next = lb_clock_mono() + LB_TAIL_DIR_SEC;
        } else {
            lb_warn_kv(LB_FIELDS(LB_F_STR("dir", d->path)),
                       "the directory is gone: its files are no longer followed");
        }
        return;
    }
    if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
        lb_warn_kv(LB_FIELDS(LB_F_STR("dir", d->path)),
                   "the directory was %s: new files in it are no longer seen",
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

/* Look at a file's path again and read what it holds now. 0, or -1 with
 * the job made fatal (logged). */
static int lb_tail_refresh(struct lb_tail *j, struct lb_tfile *tf)
{
    if (lb_tail_reconcile(j, tf) != 0) {
        lb_error_log("%s", j->err.msg);
        j->fatal = 1;
        return -1;
    }
    if (tf->cur != NULL)
        lb_tail_dirty(j, tf);
    return 0;
}

void lb_tail_rescan(struct lb_tail *j)
{
    for (size_t i = 0; i < j->nf; i++) {
        struct lb_tfile *tf = j->f[i];
        if (lb_tail_refresh(j, tf) != 0)
            return;
    }
    for (struct lb_tdir *d = j->dirs; d != NULL; d = d->next)
        if (lb_tail_glob_scan(j, d, 0) != 0) {
            lb_error_log("%s", j->err.msg);
            j->fatal = 1;
            return;
        }
}

/* Watch directory d. Returns 0 (watched), 1 (it does not exist, and
 * --allow-missing-dirs says to wait for it: d->missing), or an error. */
static int lb_tail_watch_dir(struct lb_tail *j, struct lb_tdir *d, size_t needed)
{
    int wd;
    int rc = lb_watchset_add(j->ws, d->path, LB_DIR_MASK, LB_WATCH_DIR, d, needed, &wd, &j->err);
    if (rc < 0) {
        struct stat st;
        if (stat(d->path, &st) == 0 || (errno != ENOENT && errno != ENOTDIR))
            return rc;
        if (!j->o->allow_missing_dirs)
            return lb_error_set(&j->err, LB_EIO,
                                "directory %s does not exist (create it, or let the job wait "
                                "for it with --allow-missing-dirs)",
                                d->path);
        if (!d->missing) {
            d->missing = 1;
            j->nmissing++;
        }
        return 1;
    }
    if (d->missing) {
        d->missing = 0;
        j->nmissing--;
    }
    if (rc == 1) {
        /* the same directory under another name: its twin gets the events */
        lb_warn_kv(LB_FIELDS(LB_F_STR("dir", d->path)),
                   "the same directory as another one followed; use one name for it");
        return 0;
    }
    d->wd = wd;
    return 0;
}

static size_t lb_tail_ndirs(const struct lb_tail *j)
{
    size_t n = 0;
    for (const struct lb_tdir *d = j->dirs; d != NULL; d = d->next)
        n++;
    return n;
}

/* --allow-missing-dirs: look for the directories that did not exist; one
 * that appeared is watched, and what it holds is followed from its start
 * (its files are new). */
void lb_tail_look_dirs(struct lb_tail *j)
{
    size_t needed = lb_tail_ndirs(j) + j->nf;
    for (struct lb_tdir *d = j->dirs; d != NULL && !j->fatal; d = d->next) {
        if (!d->missing)
            continue;
        int rc = lb_tail_watch_dir(j, d, needed);
        if (rc < 0) {
            lb_error_log("%s", j->err.msg);
            j->fatal = 1;
            return;
        }
        if (rc == 1)
            continue;
        lb_info_kv(LB_FIELDS(LB_F_STR("dir", d->path)), "the directory appeared; following its "
                                                        "files");
        for (struct lb_tfile *tf = d->files; tf != NULL; tf = tf->dir_next) {
            if (lb_tail_refresh(j, tf) != 0)
                return;
        }
        if (lb_tail_glob_scan(j, d, 0) != 0) {
            lb_error_log("%s", j->err.msg);
            j->fatal = 1;
            return;
        }
    }
    j->dirs_next = lb_clock_mono() + LB_TAIL_DIR_SEC;
}

/* Routes from the PATHs and GLOBs; directories to watch. */
int lb_tail_routes(struct lb_tail *j)
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
        size_t needed = lb_tail_ndirs(j) + j->nf;
        for (struct lb_tdir *d = j->dirs; d != NULL; d = d->next) {
            int rc = lb_tail_watch_dir(j, d, needed);
            if (rc < 0)
                return rc;
            if (rc == 1)
                lb_info_kv(LB_FIELDS(LB_F_STR("dir", d->path)),
                           "the directory does not exist yet: waiting for it "
                           "(--allow-missing-dirs)");
        }
        j->dirs_next = lb_clock_mono() + LB_TAIL_DIR_SEC;
    }
    for (struct lb_tdir *d = j->dirs; d != NULL; d = d->next)
        if (lb_tail_glob_scan(j, d, 1) != 0)
            return LB_ENOMEM;
    j->need_init = 1;
    return 0;
}
