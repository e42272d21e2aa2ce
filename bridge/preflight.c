/*
 * preflight.c - the environment checks of a `run` config (preflight.h).
 */
#include "preflight.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The directory part of an absolute path ("/" for "/x"). */
static void lb_pf_dir(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    snprintf(out, cap, "%.*s", (int)n, path);
}

static int lb_pf_absolute(const char *key, const char *path, struct lb_error *err)
{
    if (path[0] == '/')
        return 0;
    return lb_error_set(err, LB_EUSAGE,
                        "%s: '%s' is not an absolute path (a service starts in /, whatever the "
                        "directory check-config was run in): write the whole path",
                        key, path);
}

/* The directory of path exists and the real user may use it as mode says
 * (R_OK|X_OK to read it, W_OK|X_OK to create files in it). Returns 0, 1
 * when it does not exist, or -1; why (what is wrong, without the key). */
static int lb_pf_dir_ok(const char *path, int mode, char *why, size_t cap)
{
    char dir[PATH_MAX];
    struct stat st;
    lb_pf_dir(path, dir, sizeof(dir));
    if (stat(dir, &st) != 0) {
        int e = errno;
        snprintf(why, cap, "directory %s %s", dir,
                 e == ENOENT || e == ENOTDIR ? "does not exist" : strerror(e));
        return e == ENOENT || e == ENOTDIR ? 1 : -1;
    }
    if (!S_ISDIR(st.st_mode))
        return snprintf(why, cap, "%s is not a directory", dir), -1;
    if (access(dir, mode) != 0)
        return snprintf(why, cap, "directory %s is not %s: %s", dir,
                        mode & W_OK ? "writable" : "readable", strerror(errno)),
               -1;
    return 0;
}

/* A file logbridge writes (created, or replaced, in its directory): the
 * directory writable, an existing file a writable regular file. */
static int lb_pf_output(const char *key, const char *path, struct lb_error *err)
{
    char why[PATH_MAX + 64];
    if (lb_pf_absolute(key, path, err) != 0)
        return LB_EUSAGE;
    if (lb_pf_dir_ok(path, W_OK | X_OK, why, sizeof(why)) != 0)
        return lb_error_set(err, LB_EUSAGE, "%s: cannot create %s: %s", key, path, why);
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0; /* created at start */
    if (S_ISDIR(st.st_mode))
        return lb_error_set(err, LB_EUSAGE, "%s: %s is a directory, not a file", key, path);
    if (access(path, W_OK) != 0)
        return lb_error_set(err, LB_EUSAGE, "%s: %s is not writable: %s", key, path,
                            strerror(errno));
    return 0;
}

int lb_preflight_process(const struct lb_common *c, struct lb_error *err)
{
    /* the metrics file is replaced by rename (a temp file next to it), the
     * log reopened after a rotation: both need their directory writable */
    if (c->metrics_file != NULL && lb_pf_output("metrics_file", c->metrics_file, err) != 0)
        return LB_EUSAGE;
    if (c->log_file != NULL && lb_pf_output("log_file", c->log_file, err) != 0)
        return LB_EUSAGE;
    return 0;
}

static int lb_pf_has_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

int lb_preflight_tail(const char *prefix, const struct lb_tail_opts *o, struct lb_error *err)
{
    char key[96];
    for (int i = 0; i < o->npaths; i++) {
        const char *p = o->paths[i];
        snprintf(key, sizeof(key), "%s.paths[%d]", prefix, i);
        if (lb_pf_absolute(key, p, err) != 0)
            return LB_EUSAGE;
        char why[PATH_MAX + 64];
        int rc = lb_pf_dir_ok(p, R_OK | X_OK, why, sizeof(why));
        if (rc == 1 && o->allow_missing_dirs)
            continue;
        if (rc == 1)
            return lb_error_set(err, LB_EUSAGE,
                                "%s: %s (create it, or set \"allow_missing_dirs\": true in %s "
                                "to wait for it)",
                                key, why, prefix);
        if (rc != 0)
            return lb_error_set(err, LB_EUSAGE, "%s: %s", key, why);
        struct stat st;
        if (lb_pf_has_glob(strrchr(p, '/') + 1) || stat(p, &st) != 0)
            continue; /* files may appear later */
        if (S_ISDIR(st.st_mode))
            return lb_error_set(err, LB_EUSAGE,
                                "%s: %s is a directory, not a file (a glob such as %s/*.log "
                                "follows the files in it)",
                                key, p, p);
        if (!S_ISREG(st.st_mode))
            return lb_error_set(err, LB_EUSAGE, "%s: %s is not a regular file", key, p);
        if (access(p, R_OK) != 0)
            return lb_error_set(err, LB_EUSAGE, "%s: %s cannot be read: %s", key, p,
                                strerror(errno));
    }
    return 0;
}

int lb_preflight_mirror(const char *prefix, const struct lb_mirror_opts *o, struct lb_error *err)
{
    char key[96];
    snprintf(key, sizeof(key), "%s.file", prefix);
    /* the mirror creates its file there, again after each rotation */
    if (lb_pf_output(key, o->file, err) != 0)
        return LB_EUSAGE;
    struct stat st;
    if (lstat(o->file, &st) == 0 && S_ISLNK(st.st_mode))
        return lb_error_set(err, LB_EUSAGE,
                            "%s: %s is a symlink: a mirror never writes through one (name the "
                            "file itself)",
                            key, o->file);
    return 0;
}
