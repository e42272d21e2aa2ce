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
 * written entries that needed at least one CR/LF escape (a subset of written);
 * `resent` entries whose line was already in the file (a failover lost them
 * after they were written, and their producer sent them again). */
struct lb_mirror_counts {
    uint64_t written, skipped, excluded, escaped, resent;
    /* several streams: written after an entry with a larger ID (an explicit
     * older ID, or a stream found by a later SCAN) */
    uint64_t reordered;
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
#include "stream_merge.h"

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

/*
 * Lines of ours awaiting their entries (mirror_await.c): a failover lost
 * entries after mirror had written their lines, and their producer sends
 * them again under new IDs. Ranges of the file hold those lines, among
 * another writer's; each whole line of a range is indexed by the hash of its
 * bytes (the bytes stay in the file, read back with pread), and an entry
 * whose line equals a line of a range not taken yet is that line come back:
 * not written again. A range's `from` is its first line not taken yet; a
 * range is over when each of its lines was taken, the region when all are.
 */
#define LB_AWAIT_MAX_LINES (1u << 18) /* lines indexed at most (about 21 bytes each) */
#define LB_AWAIT_RANGES 4             /* ranges at most: a newer one pushes out the oldest */

struct lb_await_line {
    uint64_t off;  /* where it starts in the file */
    uint32_t len;  /* its bytes, '\n' included */
    uint32_t hash; /* of those bytes */
};

struct lb_await_range {
    uint64_t from, to;    /* [from, to): from is its first line not taken yet */
    size_t lo, hi, first; /* its lines in v: [lo, hi); first: the first not taken */
};

struct lb_await {
    struct lb_await_line *v; /* the ranges' whole lines, in file order */
    uint32_t *by_hash;       /* indexes into v, ordered by (hash, off) */
    unsigned char *taken;    /* v[i] came back */
    size_t n, cap, left;     /* left: lines not taken yet */
    struct lb_await_range r[LB_AWAIT_RANGES];
    size_t nr;
    int cut;          /* a range was longer than LB_AWAIT_MAX_LINES lines: cut short */
    uint64_t dropped; /* lines not taken, pushed out by a newer range */
};

#define lb_await_on(a) ((a)->left > 0)

/* What lb_mirror_observe knows of one stream: pos = the entries-added
 * index of the last entry handled (see mirror_lag.c). */
struct lb_lag {
    int pos_known;
    uint64_t pos;
    struct lb_sid lost;       /* the largest max-deleted-entry-id seen */
    struct lb_sid lost_first; /* the first retained ID seen past the last handled */
    int seen;                 /* looked at once: a stream new to the mirror only records */
};

/*
 * Several streams, or a template (DESIGN.md section 8; mirror_many.c): the
 * streams followed, each with the last entry handled, and the round being
 * merged (stream_merge.c: each stream read in pages up to the round's end).
 */
struct lb_many_stream {
    char *key;           /* owned */
    char id[LB_SID_BUF]; /* the last entry handled */
    struct lb_sid last;
    uint64_t sum;          /* lb_mirror_entry_sum of that entry (0: not known) */
    const redisReply *raw; /* that entry, its sum not taken yet (in the merge's page) */
    char base[LB_SID_BUF]; /* its ID in the checkpoint this process started from */
    struct lb_sid end;     /* --once: its last ID at start */
    struct lb_lag lag;
    /* The first entry after `last` when the round's XREAD looked (next_ok),
     * and whether the round reads the stream: that entry is at or below
     * the watermark. */
    struct lb_sid next;
    int next_ok;
    int active;
};

struct lb_many {
    struct lb_many_stream *s;
    int n, cap;
    int templates; /* some --stream is a template: new streams may appear */
    double scan_at;
    struct lb_merge mg; /* the round: streams [0, mg.n) of s, merged */
    int merging;
    int once_over;         /* --once: the one round is over */
    int ahead_warned;      /* an entry ahead of the clock was warned about */
    /* The round's watermark (XRANGE end, ms), recorded in every checkpoint
     * saved while it runs (from its start, before its first line): a
     * recognition after a kill merges up to it, and so expects exactly the
     * order the round wrote ("" between rounds and with --once). */
    char w[24];
    struct lb_arena arena; /* the reply of the wait for an entry */
    /* A thousand streams cost a round what a few do: */
    int *byname;        /* indices of s sorted by key: a name is found in log n */
    int *map;           /* the merge's stream j is s[map[j]] (the round's active ones) */
    long long *set_n;   /* per --stream: the size of its template's set when last read */
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
    uint64_t last_sum; /* lb_mirror_entry_sum of that entry (0: not known) */
    struct lb_await aw;
    /* Entries found sent again by the last reconciliation: counted once its
     * checkpoint is recorded (a reconciliation redone counts them again). */
    uint64_t recon_resent;
    /* The checkpoint this process started from (recorded at its start): the
     * point to go back to when a failover took every later one. */
    char base_id[LB_SID_BUF];
    uint64_t base_size;
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

    struct lb_lag lag; /* of the stream (several: each stream's own) */
    double lag_at;
    int lost_quiet; /* no checkpoint: the first look only records it */

    struct lb_mirror_counts counts;
    uint64_t skipped_total;
    uint64_t self_total;             /* entries whose src is this file (warned about once) */
    struct lb_redis_seen redis_seen; /* counters already in the metrics */
    unsigned hup_seen;               /* the SIGHUP generation last acted on */

    /* Redis refuses for now (OOM, LOADING...): said once at warn, then
     * retried with backoff (refusals counts the attempts) until accepted. */
    int refused;
    unsigned refusals;

    struct lb_many *mm; /* several streams (NULL: one, as always) */
};

struct lb_mirror_ckpt {
    int present;
    char id[LB_SID_BUF];
    uint64_t size;
    unsigned long long dev, ino;
    struct lb_await_range await[LB_AWAIT_RANGES]; /* lines awaiting their entries */
    size_t nawait;                                /* (only from and to are set) */
    struct cJSON *ids; /* several streams: "ids" {"STREAM":"ID",...} (owned; may be NULL) */
    char w[24];        /* several streams: "w", the watermark of the round after it ("": none) */
};

#define lb_ck_pending(m) ((m)->ck_seq != (m)->ck_saved)

/* The log fields of a mirror's lines: its file and stream, then more. */
#define LB_MIRROR_FIELDS(m, ...)                                                                   \
    LB_FIELDS(LB_F_STR("file", (m)->path), LB_F_STR("stream", (m)->o->streams.v[0]), __VA_ARGS__)
#define LB_MIRROR_FIELDS0(m)                                                                       \
    LB_FIELDS(LB_F_STR("file", (m)->path), LB_F_STR("stream", (m)->o->streams.v[0]))

/* mirror.c */
/* Format entry e into m->buf (written out when a chunk is full, or at once
 * with --fsync always) and count it, or count why it gives no line. The
 * caller releases m->dec and writes what is left. 0 or an error code. */
int lb_mirror_put(struct lb_mirror *m, const redisReply *e, struct lb_error *err);
/* The same for an entry decoded already (the merge of several streams). */
int lb_mirror_put_entry(struct lb_mirror *m, struct lb_entry *en, struct lb_error *err);
int lb_mirror_top(struct lb_mirror *m, struct lb_error *err);
/* May a backlog go on without passing the top of the loop? Not when a stop
 * or SIGHUP waits, nor when the top is due (flags every 200 ms). */
int lb_mirror_top_waits(const struct lb_mirror *m);
/* Is the open batch young enough to take more before its sync and
 * checkpoint (LB_MIRROR_SYNC_ENTRIES, LB_MIRROR_SYNC_SEC)? */
int lb_mirror_batch_young(const struct lb_mirror *m);
int lb_mirror_close_batch(struct lb_mirror *m, struct lb_error *err);
void lb_mirror_accepted(struct lb_mirror *m);
void lb_mirror_set_last(struct lb_mirror *m, const char *id, size_t n);
int lb_mirror_ckpt_load(struct lb_mirror *m, struct lb_mirror_ckpt *ck, struct lb_error *err);
/* Record the checkpoint and wait for Redis to confirm it. */
int lb_mirror_ckpt_save(struct lb_mirror *m, struct lb_error *err);

/* mirror_file.c: the file, and the rules about src */
enum lb_dec lb_mirror_decode(struct lb_dec_ctx *d, const redisReply *e, struct lb_record *rec,
                             const char **why);
/* The same for an entry decoded already (its slices must stay valid). */
enum lb_dec lb_mirror_classify(struct lb_dec_ctx *d, struct lb_entry *en, struct lb_record *rec,
                               const char **why);
void lb_dec_release(struct lb_dec_ctx *d);
void lb_dec_self_forget(struct lb_dec_ctx *d);
int lb_mirror_open(struct lb_mirror *m, struct lb_error *err);
int lb_mirror_write(struct lb_mirror *m, const char *p, size_t n, struct lb_error *err);
int lb_mirror_sync(struct lb_mirror *m, struct lb_error *err);
int lb_mirror_reopen(struct lb_mirror *m, struct lb_error *err);

/* mirror_lag.c: XINFO -> lag gauge and loss warnings (force: now); over
 * several streams, the sum of their lags (set once every stream's is known) */
int lb_mirror_observe(struct lb_mirror *m, int force, struct lb_error *err);

/* mirror_recognise.c: reconcile the file with its checkpoint, at start and
 * after a failover lost what was mirrored (lost: the last entry written,
 * now gone; NULL at start) */
int lb_mirror_start(struct lb_mirror *m, struct lb_error *err);
int lb_mirror_reconcile(struct lb_mirror *m, const struct lb_mirror_ckpt *ck, uint64_t end,
                        const struct lb_sid *lost, struct lb_error *err);

/* mirror_many.c: several streams (DESIGN.md section 8) */
int lb_many_init(struct lb_mirror *m);
void lb_many_free(struct lb_mirror *m);
/* The start over several streams: streams resolved, each one's last ID from
 * the checkpoint's "ids" (or --from), the file reconciled as for one. */
int lb_many_start(struct lb_mirror *m, struct lb_error *err);
/* One batch of the round being merged (a round: TIME, the watermark, then
 * every stream read up to it and merged), written. 0, 1 (--once: done) or
 * an error code. */
int lb_many_turn(struct lb_mirror *m, struct lb_error *err);
/* After a reconnect: the round is dropped (the next one starts after each
 * stream's last entry handled). */
void lb_many_reconnected(struct lb_mirror *m);
/* After a reconnect, as lb_mirror_resume for one stream: if a stream's last
 * entry handled is gone (a failover), go back to the checkpoint in Redis
 * (each stream to its ID there) and reconcile; then record the checkpoint
 * if it is pending. 0 or an error code. */
int lb_many_resume(struct lb_mirror *m, struct lb_error *err);
/* --once: every stream is written up to its last ID at start. */
int lb_many_done(const struct lb_mirror *m);
/* Each stream's last entry dealt with (ids[i] for stream i, from the
 * recognition), and m->last the largest of them. */
void lb_many_set_ids(struct lb_mirror *m, char (*ids)[LB_SID_BUF]);

/* mirror_await.c: lines of ours awaiting their entries, and what a
 * reconnect checks */
/* Add the whole lines of [from, to) of fd as the newest range (after every
 * other: from >= the last range's to). The oldest ranges make room when
 * there are LB_AWAIT_RANGES or the lines would be more than
 * LB_AWAIT_MAX_LINES (a->dropped counts their lines not taken); a range
 * longer than that is cut short (a->cut). 0, LB_EIO or LB_ENOMEM (the
 * region is then as it was, or empty). */
int lb_await_add(struct lb_await *a, int fd, uint64_t from, uint64_t to, struct lb_error *err);
/* The ranges with lines not taken yet, as [from, to) (at most
 * LB_AWAIT_RANGES): what a checkpoint records. Returns their count. */
size_t lb_await_ranges(const struct lb_await *a, struct lb_await_range *out);
/* Is line[0..n) (with its '\n') a line of the region not taken yet? 1 (it is
 * taken now), 0, or LB_EIO. */
int lb_await_take(struct lb_await *a, int fd, const char *line, size_t n, struct lb_error *err);
/* NULL-safe, and safe on a zeroed region. */
void lb_await_free(struct lb_await *a);
/* A sum of an entry's ID and fields: the entry at last_id is the one we
 * read, not another that was given the same ID after a failover. */
uint64_t lb_mirror_entry_sum(const redisReply *e);
/* The checkpoint that survived a failover: the one in Redis, or when none
 * did, the one this process started from (base_id, base_size, and with
 * several streams each one's base). 0 or an error code. */
int lb_mirror_ckpt_surviving(struct lb_mirror *m, struct lb_mirror_ckpt *ck, struct lb_error *err);
/* Is entry `id` of stream key gone (or another entry under its ID: its sum
 * differs; sum 0: not known, not compared)? 0 with *gone set, or an error
 * code. */
int lb_mirror_entry_gone(struct lb_mirror *m, const char *key, const char *id, uint64_t sum,
                         int *gone, struct lb_error *err);
/* After a reconnect: if the last entry handled is no longer in the stream
 * (a failover lost it), go back to the checkpoint in Redis and reconcile;
 * then record the checkpoint if it is pending. 0 or an error code. */
int lb_mirror_resume(struct lb_mirror *m, struct lb_error *err);

#endif
