/*
 * mirror_int.h - inside mirror and export (not for other modules): the
 * output side they share (mirror_out.c).
 */
#ifndef LB_MIRROR_INT_H
#define LB_MIRROR_INT_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "record.h"

#define LB_MIRROR_CHUNK (1024 * 1024) /* write(2) when the buffer holds this much */
#define LB_MIRROR_WARN_FREE 10        /* skipped entries warned about one by one */
#define LB_MIRROR_WARN_EVERY 1000     /* then one warning per this many */

/* Counted per batch and added to the metrics once per batch. `escaped` counts
 * written entries that needed at least one CR/LF escape (a subset of written). */
struct lb_mirror_counts {
    uint64_t written, skipped, excluded, escaped;
};

/* Add n to logbridge_mirror_entries_total{file,outcome} and zero it. */
void lb_counts_flush(struct lb_metrics *m, const char *file, struct lb_mirror_counts *n);

/* Rate-limited warning for a skipped entry: the first few one by one, then
 * one per LB_MIRROR_WARN_EVERY, each naming the entry. */
void lb_warn_skipped(const char *what, uint64_t total, const char *id, const char *why);

/* The lines of a batch, before write(2). */
struct lb_buf {
    char *p;
    size_t n, cap;
};

/* Room for `more` bytes after n. 0 or -1 (out of memory). */
int lb_buf_reserve(struct lb_buf *b, size_t more);

/* Free a buffer that a huge entry blew up past 4 chunks, so memory does not
 * stay high. */
void lb_buf_shrink(struct lb_buf *b);

/* write(2) all of p, through EINTR and short writes. 0 or -1 (errno). */
int lb_write_all(int fd, const char *p, size_t n);

/* Room for the line of rec (an upper bound, see mirror_out.c). */
size_t lb_line_bound(const struct lb_record *rec);

/* One stream name, never a template (mirror and export read what is there);
 * an option setter's body (opts.h). */
int lb_mirror_one_stream(const char **out, const char *cmd, const char *arg, char *why, size_t cap);

/* ---- mirror's state (mirror.c and its parts) ------------------------------- */

#include <limits.h>
#include <stdatomic.h>

#include "checkpoint.h"
#include "entry.h"
#include "error.h"
#include "mirror.h"
#include "redis.h"
#include "reply.h"
#include "stream_id.h"

/* LB_DEC_SELF: an entry whose src is the mirror file itself (counted as
 * excluded): written back, it would be read again by a tail of the file. */
enum lb_dec { LB_DEC_LINE = 0, LB_DEC_EXCLUDED, LB_DEC_SKIPPED, LB_DEC_SELF };

#define LB_SELF_CACHE 16 /* distinct src values whose verdict is remembered */

struct lb_self_seen {
    char *src; /* NUL-terminated copy */
    size_t n;
    int self;
};

struct lb_dec_ctx {
    struct lb_entry_decoder ed; /* the entry decoder (entry.c) */
    const char *const *exclude;
    int nexclude;
    /* mirror only (export writes anywhere): the file's names and identity */
    const char *self[2]; /* absolute path of --file, and its realpath */
    unsigned long long self_dev, self_ino;
    int self_on;
    struct lb_self_seen seen[LB_SELF_CACHE];
    int nseen;
    struct lb_slice src; /* the src of the last decoded entry (for messages) */
};

struct lb_mirror {
    const struct lb_mirror_opts *o;
    const struct lb_job_env *env;
    struct lb_metrics *metrics;
    int want_metrics;
    struct lb_redis *r;
    struct lb_dec_ctx dec;
    struct lb_buf buf;

    char path[PATH_MAX]; /* absolute: the checkpoint's field and the metrics' label */
    char key[LB_KEY_MAX];
    char lbl_file[PATH_MAX + 16];
    char what[PATH_MAX + 16]; /* "mirror /abs/path", for warnings */
    char l_job[160];          /* job="mirror" */
    int down;                 /* reported down (or starting) until a command is accepted */

    int fd;
    unsigned long long dev, ino;
    uint64_t size;  /* file offset just past our last write */
    int dir_synced; /* the directory entry of a created file is durable */

    char last_id[LB_SID_BUF]; /* the last entry handled (written, skipped or excluded) */
    struct lb_sid last;
    /* The checkpoint is pending while ck_seq != ck_saved: ck_seq counts the
     * changes (batches, reopens), ck_saved is the change Redis confirmed. */
    uint64_t ck_seq, ck_saved, hset_seq;
    int hset_inflight;  /* an HSET was sent, its reply not read yet */
    int xread_inflight; /* an XREAD was sent ahead (pipelined) */
    struct lb_arena arena;
    double top_at; /* last pass through the top of the loop (flags, lag) */
    /* Entries written since the last sync + checkpoint: while a backlog is
     * read ahead, one batch spans several reads (fewer fdatasyncs). Only
     * non-zero while an XREAD is in flight. */
    uint64_t unsynced;
    double batch_t0;

    struct lb_sid end; /* --once: the stream's last ID at start */

    /* Lag: pos = the entries-added index of last (see lb_mirror_observe). */
    int pos_known;
    uint64_t pos;
    double lag_at;
    struct lb_sid lost;       /* the largest max-deleted-entry-id seen */
    struct lb_sid lost_first; /* the first retained ID seen past last_id */
    int lost_quiet;           /* no checkpoint: the first look only records it */

    struct lb_mirror_counts counts;
    uint64_t skipped_total;
    uint64_t self_total; /* entries whose src is this file (warned about once) */
    struct lb_redis_seen redis_seen; /* counters already in the metrics */
    unsigned hup_seen; /* the SIGHUP generation last acted on */

    /* Redis refuses for now (OOM, LOADING...): said once at warn, then
     * retried with backoff (refusals counts the attempts) until accepted. */
    int refused;
    unsigned refusals;
};

struct lb_mirror_ckpt {
    int present;
    char id[LB_SID_BUF];
    uint64_t size;
    unsigned long long dev, ino;
};

#define lb_ck_pending(m) ((m)->ck_seq != (m)->ck_saved)

/* The log fields of a mirror's lines: its file and stream, then more. */
#define LB_MIRROR_FIELDS(m, ...)                                                                   \
    LB_FIELDS(LB_F_STR("file", (m)->path), LB_F_STR("stream", (m)->o->stream), __VA_ARGS__)
#define LB_MIRROR_FIELDS0(m)                                                                       \
    LB_FIELDS(LB_F_STR("file", (m)->path), LB_F_STR("stream", (m)->o->stream))

/* mirror.c */
void lb_mirror_set_last(struct lb_mirror *m, const char *id, size_t n);
int lb_mirror_ckpt_load(struct lb_mirror *m, struct lb_mirror_ckpt *ck, struct lb_error *err);
/* Record the checkpoint and wait for Redis to confirm it. */
int lb_mirror_ckpt_save(struct lb_mirror *m, struct lb_error *err);

/* mirror_file.c: the file, and the rules about src */
enum lb_dec lb_mirror_decode(struct lb_dec_ctx *d, const redisReply *e, struct lb_record *rec,
                             const char **why);
void lb_dec_release(struct lb_dec_ctx *d);
void lb_dec_self_forget(struct lb_dec_ctx *d);
int lb_mirror_open(struct lb_mirror *m, struct lb_error *err);
int lb_mirror_write(struct lb_mirror *m, const char *p, size_t n, struct lb_error *err);
int lb_mirror_sync(struct lb_mirror *m, struct lb_error *err);
int lb_mirror_reopen(struct lb_mirror *m, struct lb_error *err);

/* mirror_lag.c: XINFO -> lag gauge and loss warnings (force: now) */
int lb_mirror_observe(struct lb_mirror *m, int force, struct lb_error *err);

/* mirror_recognise.c: reconcile the file with its checkpoint */
int lb_mirror_start(struct lb_mirror *m, struct lb_error *err);

#endif
