/*
 * mirror_file.c - mirror's file: opened for append and never through a
 * symlink, written with write(2), fdatasync'ed, its directory synced when it
 * was created, reopened after SIGHUP (logrotate). Never cut back: another
 * writer may have appended after our part. Here too the rule about entries
 * whose src is the file itself (by its absolute path, its realpath, or a path
 * that stat()s to its dev/ino): not written back, since a tail of the file
 * into the stream would read it again (a loop that a standalone tail/mirror
 * pair cannot see).
 *
 * The order write -> fdatasync -> checkpoint is kept by the caller
 * (mirror.c: lb_mirror_batch, lb_mirror_close_batch, the HSET after them).
 */
#include "mirror_int.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- entries and the file's src rules ---------------------------------------------- */

void lb_dec_release(struct lb_dec_ctx *d)
{
    lb_entry_release(&d->ed);
}

/* Forget the remembered src verdicts (the file was reopened: another inode). */
void lb_dec_self_forget(struct lb_dec_ctx *d)
{
    for (int i = 0; i < d->nseen; i++)
        free(d->seen[i].src);
    d->nseen = 0;
}

/*
 * Is src the mirror file itself? By name (the absolute path of --file or its
 * realpath), else by identity: a path that stat()s to the file's dev/ino (a
 * symlink or another name of it). The stat verdict of the first
 * LB_SELF_CACHE distinct src values is remembered; past that, src values
 * that are new are compared by name only (no syscall per entry).
 */
static int lb_dec_is_self(struct lb_dec_ctx *d, const char *src, size_t n)
{
    for (int i = 0; i < 2; i++)
        if (d->self[i] != NULL && strlen(d->self[i]) == n && memcmp(d->self[i], src, n) == 0)
            return 1;
    for (int i = 0; i < d->nseen; i++)
        if (d->seen[i].n == n && memcmp(d->seen[i].src, src, n) == 0)
            return d->seen[i].self;
    if (d->nseen == LB_SELF_CACHE || n == 0 || src[0] != '/' || n >= PATH_MAX ||
        memchr(src, '\0', n) != NULL)
        return 0;
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, src, n);
    copy[n] = '\0';
    struct stat st;
    int self = stat(copy, &st) == 0 && (unsigned long long)st.st_dev == d->self_dev &&
               (unsigned long long)st.st_ino == d->self_ino;
    d->seen[d->nseen].src = copy;
    d->seen[d->nseen].n = n;
    d->seen[d->nseen].self = self;
    d->nseen++;
    return self;
}

static int lb_dec_excluded(const struct lb_dec_ctx *d, const char *src, size_t n)
{
    for (int i = 0; i < d->nexclude; i++)
        if (strlen(d->exclude[i]) == n && memcmp(d->exclude[i], src, n) == 0)
            return 1;
    return 0;
}

/*
 * Decode one XREAD/XRANGE entry (entry.c) and add mirror's rules about src:
 * --exclude-src, and the file itself. Returns LB_DEC_LINE (rec filled; its
 * slices live until the next call), LB_DEC_EXCLUDED, LB_DEC_SELF, or
 * LB_DEC_SKIPPED with *why set.
 */
enum lb_dec lb_mirror_decode(struct lb_dec_ctx *d, const redisReply *e, struct lb_record *rec,
                             const char **why)
{
    struct lb_entry en;
    lb_entry_decode(&d->ed, e, &en);
    return lb_mirror_classify(d, &en, rec, why);
}

enum lb_dec lb_mirror_classify(struct lb_dec_ctx *d, struct lb_entry *en,
                               struct lb_record *rec, const char **why)
{
    *rec = en->rec;
    *why = en->why;
    if (en->why_first)
        return LB_DEC_SKIPPED;
    d->src = en->has_src ? en->src : (struct lb_slice){NULL, 0};
    if (en->has_src && d->nexclude > 0 && lb_dec_excluded(d, en->src.p, en->src.n))
        return LB_DEC_EXCLUDED;
    if (en->has_src && d->self_on && lb_dec_is_self(d, en->src.p, en->src.n))
        return LB_DEC_SELF;
    *why = lb_entry_verdict(en);
    return *why != NULL ? LB_DEC_SKIPPED : LB_DEC_LINE;
}

/* ---- mirror: the file ------------------------------------------------------------ */

/* Open F for appending (and reading: a start compares what follows the
 * checkpoint with its own lines), never through a symlink; fill
 * dev/ino/size. */
int lb_mirror_open(struct lb_mirror *m, struct lb_error *err)
{
    int created = 0;
    int fd = open(m->o->file, O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        fd = open(m->o->file, O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_CREAT | O_EXCL, 0644);
        created = fd >= 0;
        if (fd < 0 && errno == EEXIST) /* created by someone else meanwhile */
            fd = open(m->o->file, O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            return lb_error_set(err, LB_EIO, "%s is a symbolic link; mirror never follows one",
                                m->path);
        return lb_error_set(err, LB_EIO, "cannot open %s: %s", m->path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lb_error_set(err, LB_EIO, "fstat %s: %s", m->path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lb_error_set(err, LB_EIO, "%s is not a regular file", m->path);
    }
    m->fd = fd;
    m->dev = (unsigned long long)st.st_dev;
    m->ino = (unsigned long long)st.st_ino;
    m->size = (uint64_t)st.st_size;
    m->dir_synced = !created;
    if (m->dec.self_dev != m->dev || m->dec.self_ino != m->ino)
        lb_dec_self_forget(&m->dec); /* verdicts were about another inode */
    m->dec.self_dev = m->dev;
    m->dec.self_ino = m->ino;
    return 0;
}

/* A new file's name is only durable once its directory is synced: until
 * that worked, no checkpoint may claim the file's bytes (a crash could lose
 * the name with them). 0 or LB_EIO; tried again at the next sync. */
static int lb_mirror_sync_dir(struct lb_mirror *m, struct lb_error *err)
{
    if (m->dir_synced || m->o->fsync == LB_FSYNC_NEVER)
        return 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", m->path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        return 0;
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return lb_error_set(err, LB_EIO, "cannot open directory %s to sync the new file's name: %s",
                            dir, strerror(errno));
    if (fsync(dfd) != 0) {
        int e = errno;
        close(dfd);
        return lb_error_set(err, LB_EIO, "fsync of directory %s: %s", dir, strerror(e));
    }
    close(dfd);
    m->dir_synced = 1;
    return 0;
}

int lb_mirror_write(struct lb_mirror *m, const char *p, size_t n, struct lb_error *err)
{
    if (n == 0)
        return 0;
    if (lb_write_all(m->fd, p, n) != 0) {
        /* No cut back: another writer may have appended after our part (see
         * the header); the checkpoint has not moved, and the next start
         * recognises what of this batch landed. */
        return lb_error_set(err, LB_EIO, "write to %s: %s", m->path, strerror(errno));
    }
    /* O_APPEND put our bytes at the end: the offset is just past them. */
    off_t pos = lseek(m->fd, 0, SEEK_CUR);
    m->size = pos >= 0 ? (uint64_t)pos : m->size + n;
    return 0;
}

int lb_mirror_sync(struct lb_mirror *m, struct lb_error *err)
{
    if (m->o->fsync == LB_FSYNC_NEVER)
        return 0;
    if (fdatasync(m->fd) != 0)
        return lb_error_set(err, LB_EIO, "fdatasync %s: %s", m->path, strerror(errno));
    return lb_mirror_sync_dir(m, err);
}

/* SIGHUP: F may have been renamed away by logrotate; open F anew and record
 * its identity, so that a restart does not take it for a crash. */
int lb_mirror_reopen(struct lb_mirror *m, struct lb_error *err)
{
    unsigned long long odev = m->dev, oino = m->ino;
    if (m->fd >= 0)
        close(m->fd);
    m->fd = -1;
    int rc = lb_mirror_open(m, err);
    if (rc != 0)
        return rc;
    if (odev != m->dev || oino != m->ino) {
        lb_info_kv(LB_MIRROR_FIELDS(m, LB_F_U64("dev", m->dev), LB_F_U64("ino", m->ino),
                                    LB_F_U64("size", m->size), LB_F_STR("id", m->last_id)),
                   "mirror: reopened after SIGHUP: a new file, continuing after id");
        /* lines awaiting their entries are in the old file, where they stay */
        lb_await_free(&m->aw);
    } else {
        lb_info_kv(LB_MIRROR_FIELDS0(m), "mirror: reopened after SIGHUP (the same file)");
    }
    m->ck_seq++;
    return 0;
}
