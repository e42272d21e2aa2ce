/*
 * tail_watch.c - the inotify watch set of one tail job: the inotify fd, and
 * a map from watch descriptor to what it watches (a directory, or the
 * generations of files with that inode).
 *
 * The map is an open-addressing hash keyed by wd: wds are small integers,
 * but the kernel hands them out cyclically, so after many rotations they are
 * not dense enough for a plain array.
 */
#include "tail_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LB_WS_EMPTY (-1)
#define LB_WS_TOMB (-2)
/* inotify events are at most sizeof(struct inotify_event) + NAME_MAX + 1; a
 * larger buffer takes many per read(2). */
#define LB_WS_BUF (64 * 1024)

struct lb_ws_slot {
    int wd;
    enum lb_watch_kind kind;
    void *obj;
};

struct lb_watchset {
    int fd;
    struct lb_ws_slot *slots;
    size_t cap, used, tombs;
    char *buf;
};

static size_t lb_ws_hash(int wd, size_t cap)
{
    return ((size_t)(unsigned)wd * 2654435761u) & (cap - 1);
}

struct lb_watchset *lb_watchset_create(struct lb_error *err)
{
    struct lb_watchset *ws = calloc(1, sizeof(*ws));
    if (ws == NULL) {
        lb_error_set(err, LB_ENOMEM, "out of memory");
        return NULL;
    }
    ws->fd = -1;
    ws->cap = 64;
    ws->slots = malloc(ws->cap * sizeof(*ws->slots));
    ws->buf = malloc(LB_WS_BUF);
    if (ws->slots == NULL || ws->buf == NULL) {
        lb_watchset_destroy(ws);
        lb_error_set(err, LB_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < ws->cap; i++)
        ws->slots[i].wd = LB_WS_EMPTY;
    ws->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ws->fd < 0) {
        int e = errno;
        if (e == EMFILE)
            lb_error_set(err, LB_EIO,
                         "inotify_init1: %s: the per-user limit of inotify instances is reached; "
                         "raise /proc/sys/fs/inotify/max_user_instances (this job needs 1 more)",
                         strerror(e));
        else
            lb_error_set(err, LB_EIO, "inotify_init1: %s", strerror(e));
        lb_watchset_destroy(ws);
        return NULL;
    }
    return ws;
}

void lb_watchset_destroy(struct lb_watchset *ws)
{
    if (ws == NULL)
        return;
    if (ws->fd >= 0)
        close(ws->fd); /* drops every watch */
    free(ws->slots);
    free(ws->buf);
    free(ws);
}

int lb_watchset_fd(const struct lb_watchset *ws)
{
    return ws->fd;
}

size_t lb_watchset_count(const struct lb_watchset *ws)
{
    return ws->used;
}

static struct lb_ws_slot *lb_ws_find(const struct lb_watchset *ws, int wd)
{
    for (size_t i = lb_ws_hash(wd, ws->cap), n = 0; n < ws->cap; i = (i + 1) & (ws->cap - 1), n++) {
        if (ws->slots[i].wd == wd)
            return &ws->slots[i];
        if (ws->slots[i].wd == LB_WS_EMPTY)
            return NULL;
    }
    return NULL;
}

static int lb_ws_rehash(struct lb_watchset *ws, size_t cap)
{
    struct lb_ws_slot *s = malloc(cap * sizeof(*s));
    if (s == NULL)
        return LB_ENOMEM;
    for (size_t i = 0; i < cap; i++)
        s[i].wd = LB_WS_EMPTY;
    for (size_t i = 0; i < ws->cap; i++) {
        if (ws->slots[i].wd < 0)
            continue;
        size_t j = lb_ws_hash(ws->slots[i].wd, cap);
        while (s[j].wd != LB_WS_EMPTY)
            j = (j + 1) & (cap - 1);
        s[j] = ws->slots[i];
    }
    free(ws->slots);
    ws->slots = s;
    ws->cap = cap;
    ws->tombs = 0;
    return 0;
}

static int lb_ws_insert(struct lb_watchset *ws, int wd, enum lb_watch_kind kind, void *obj)
{
    if ((ws->used + ws->tombs + 1) * 2 > ws->cap) {
        size_t cap = ws->cap;
        while ((ws->used + 1) * 2 > cap / 2)
            cap *= 2;
        if (lb_ws_rehash(ws, cap) != 0)
            return LB_ENOMEM;
    }
    size_t i = lb_ws_hash(wd, ws->cap);
    while (ws->slots[i].wd >= 0)
        i = (i + 1) & (ws->cap - 1);
    if (ws->slots[i].wd == LB_WS_TOMB)
        ws->tombs--;
    ws->slots[i].wd = wd;
    ws->slots[i].kind = kind;
    ws->slots[i].obj = obj;
    ws->used++;
    return 0;
}

int lb_watchset_add(struct lb_watchset *ws, const char *path, uint32_t mask,
                    enum lb_watch_kind kind, void *obj, size_t needed, int *wd,
                    struct lb_error *err)
{
    int w = inotify_add_watch(ws->fd, path, mask);
    if (w < 0) {
        int e = errno;
        if (e == ENOSPC) {
            char lim[32] = "?";
            FILE *f = fopen("/proc/sys/fs/inotify/max_user_watches", "r");
            if (f != NULL) {
                if (fgets(lim, sizeof(lim), f) == NULL)
                    snprintf(lim, sizeof(lim), "?");
                lim[strcspn(lim, "\n")] = '\0';
                fclose(f);
            }
            return lb_error_set(err, LB_EIO,
                                "inotify_add_watch %s: the per-user limit of inotify watches is "
                                "reached (max_user_watches = %s, shared by every process of this "
                                "user); this job needs %zu: raise "
                                "/proc/sys/fs/inotify/max_user_watches",
                                path, lim, needed);
        }
        return lb_error_set(err, LB_EIO, "inotify_add_watch %s: %s", path, strerror(e));
    }
    *wd = w;
    if (lb_ws_find(ws, w) != NULL)
        return 1; /* the same inode under another name: one watch serves both */
    if (lb_ws_insert(ws, w, kind, obj) != 0) {
        inotify_rm_watch(ws->fd, w);
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    }
    return 0;
}

void *lb_watchset_get(const struct lb_watchset *ws, int wd, enum lb_watch_kind *kind)
{
    struct lb_ws_slot *s = lb_ws_find(ws, wd);
    if (s == NULL)
        return NULL;
    if (kind != NULL)
        *kind = s->kind;
    return s->obj;
}

void lb_watchset_set(struct lb_watchset *ws, int wd, void *obj)
{
    struct lb_ws_slot *s = lb_ws_find(ws, wd);
    if (s != NULL)
        s->obj = obj;
}

void lb_watchset_forget(struct lb_watchset *ws, int wd)
{
    struct lb_ws_slot *s = lb_ws_find(ws, wd);
    if (s == NULL)
        return;
    s->wd = LB_WS_TOMB;
    s->obj = NULL;
    ws->used--;
    ws->tombs++;
}

void lb_watchset_remove(struct lb_watchset *ws, int wd)
{
    if (lb_ws_find(ws, wd) == NULL)
        return;
    inotify_rm_watch(ws->fd, wd);
    lb_watchset_forget(ws, wd);
}

int lb_watchset_drain(struct lb_watchset *ws, lb_watch_fn fn, void *ctx, struct lb_error *err)
{
    for (;;) {
        ssize_t n = read(ws->fd, ws->buf, LB_WS_BUF);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return lb_error_set(err, LB_EIO, "read inotify: %s", strerror(errno));
        }
        if (n == 0)
            return 0;
        for (ssize_t o = 0; o + (ssize_t)sizeof(struct inotify_event) <= n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(ws->buf + o);
            fn(ctx, ev);
            o += (ssize_t)(sizeof(struct inotify_event) + ev->len);
        }
    }
}
