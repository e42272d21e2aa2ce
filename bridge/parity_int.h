/*
 * parity_int.h - inside `logbridge parity` (not for other modules): the
 * job's state and what its files share. parity.c is the command and its
 * drivers (strict, any); parity_align.c the aligner (pure); parity_file.c
 * the file side (lines, groups, comparable text and hash); parity_gen.c
 * the routes and their generations (checkpoints, identities, which FILE an
 * entry's generation is, pending lines); parity_baseline.c the accepted
 * differences; parity_outcome.c the outcome (counts, examples, trimmed
 * rule, multiset); parity_report.c the report.
 */
#ifndef LB_PARITY_INT_H
#define LB_PARITY_INT_H

#include "parity.h"
#include "stream_set.h"

#include "checkpoint.h"
#include "cli.h"
#include "entry.h"
#include "error.h"
#include "feed.h"
#include "redis.h"
#include "source.h"
#include "stream_info.h"

#include <limits.h>

/* Lookahead (items per side). By offsets, gaps of any length resolve by
 * order and the window only has to catch moved entries; by content it also
 * stands in for timestamps that are out of order. Kept small enough that a
 * group's rings and indexes stay in cache: at 32768 a stream with a
 * difference every 1000 lines took 60% longer. */
#define LB_WINDOW_ORDERED 2048
#define LB_WINDOW_CONTENT 8192
#define LB_WINDOW_TOTAL 65536 /* content windows of all groups together */
#define LB_WINDOW_MIN 1024

enum lb_parity_mode { LB_MODE_UNSET = 0, LB_MODE_CONTENT, LB_MODE_PROV };

struct lb_parity_opts {
    struct lb_common c;
    struct lb_streams streams; /* every --stream (DESIGN.md section 8); v[0] names the job */
    const char *src;
    const char *from, *to;
    int order_any;
    enum { LB_REPORT_TEXT, LB_REPORT_JSON, LB_REPORT_JUNIT } report;
    const char *out;
    long long max_examples;
    int no_pending;
    const char *baseline, *write_baseline;
    char **files;
    int nfiles;
};

/* Lines of one group's files, in order, one at a time. */
struct lb_reader {
    const int *files;
    int nfiles, cur;
    struct lb_source *s;
    uint64_t line_no;
    int quiet; /* a probe: bad lines are not counted */
};

struct lb_parity;

struct lb_group {
    struct lb_parity *p;
    const char *src;
    size_t src_len;
    int *files;
    int nfiles;
    int ordered; /* key = off: one FILE, aligned with the entries of its generation */
    uint64_t entries;
    int dirty;
    struct lb_reader rd;
    struct lb_align *a;
    /* --order any: the state of the walk over the lines */
    int seen_match;
};

/*
 * A route: the src that entries name, and the FILEs given for it (its
 * rotated chain, oldest first). tail gives every generation of a file the
 * live path's name, and offsets start again at 0 in each: a run of entries
 * whose offsets go back is the next generation (parity_gen.c).
 */
enum lb_run_state {
    LB_RUN_NONE,   /* no entry yet */
    LB_RUN_FILE,   /* the run is the generation of FILE `cur` */
    LB_RUN_OLDER,  /* before the first run that is a FILE's: not compared */
    LB_RUN_UNKNOWN /* after one: a generation none of the FILEs holds (extra) */
};

struct lb_run_note { /* runs of one kind, for the message at the end */
    uint64_t runs, entries;
    uint64_t first_ms, first_seq, last_ms, last_seq;
    uint64_t max_off;
    int after_file; /* the FILE matched last before them, or -1 */
};

struct lb_route {
    const char *src;
    size_t src_len;
    int *files; /* FILE indices, in the order given */
    int nfiles;
    struct lb_ckpt ck; /* ck.present: the stream holds a checkpoint for src */
    int cf;            /* the FILE that is the checkpoint's generation, or -1 */
    /* routing entries to generations (strict, provenance) */
    enum lb_run_state state;
    int cur, last_file;
    uint64_t last_off, max_first_off;
    uint64_t entries;
    struct lb_run_note older, unknown;
};

struct lb_pfile {
    const char *path;
    char src[PATH_MAX];
    int route, group;
    /* its first valid line (the start of its generation's entries) */
    int has_first;
    uint64_t first_off, first_hash;
    int claimed;           /* a run of entries was found to be this FILE's */
    int done_gen;          /* a finished generation in the checkpoint's "done" list */
    uint64_t pending_from; /* lines from this offset on are pending (UINT64_MAX: none) */
    int pending_after;     /* after the checkpoint's FILE: pending if no entry is its */
};

struct lb_parity {
    const struct lb_parity_opts *o;
    struct lb_redis *r;
    struct lb_feed *feed;
    struct lb_entry_decoder dec;
    struct lb_error ferr; /* a file error met inside the aligner's pull */

    char *text;
    size_t textcap;

    struct lb_pfile *pf;
    int nfiles;
    struct lb_group *groups;
    int ngroups;
    struct lb_route *routes;
    int nroutes;
    struct lb_route *last_route;
    struct lb_baseline *bl; /* --baseline, or NULL */
    FILE *blw;              /* --write-baseline: the temp file being written */
    char blw_tmp[PATH_MAX];
    uint64_t blw_n;
    enum lb_parity_mode mode;
    int utf8_rule, utf8_known;

    struct lb_names names;    /* the streams compared (what --stream stands for) */
    struct lb_stream_info si; /* what XINFO STREAM said (summed over the streams) */
    uint64_t budget;          /* lines that may still count as trimmed */
    /* Several streams with deletions, through a template (DESIGN.md section
     * 8): each line knows the stream the template routes it to, and is
     * trimmed when that stream's deletions account for it and it lies before
     * that stream's first entry from its FILE (aligned by src/off). */
    const char *line_tmpl; /* the template lines are routed by, or NULL */
    uint64_t *sbudget;     /* [stream]: its deletions not yet accounted for */
    uint64_t *sfirst;      /* [stream * nfiles + FILE]: off of its first entry there,
                            * UINT64_MAX none yet, 0 one from an older generation */
    int from_cuts, to_cuts;
    char range_start[48], range_end[48];

    struct lb_parity_report rep;
    struct lb_parity_file *fst;
    uint64_t other_src; /* entries whose src names no FILE */
    char other_src_name[128];
    size_t excap;
};

enum lb_outcome {
    LB_OUT_MATCH,
    LB_OUT_MISMATCH,
    LB_OUT_OOO,
    LB_OUT_MISSING,
    LB_OUT_EXTRA,
    LB_OUT_TRIMMED,
    LB_OUT_OUTSIDE,
    LB_OUT_PENDING,
    LB_OUT_ACCEPTED /* a difference the baseline accepts (line and/or entry side) */
};

/* parity_file.c: the file side */
int lb_parity_text_room(struct lb_parity *p, size_t need, struct lb_error *err);
int lb_parity_feed(struct lb_parity *p, struct lb_error *err);
void lb_parity_reader_close(struct lb_reader *rd);
int lb_parity_reader_next(struct lb_parity *p, struct lb_reader *rd, struct lb_align_item *it,
                          int64_t *ts, struct lb_error *err);
void lb_parity_group_keys(const struct lb_group *g, struct lb_align_item *it, int64_t ts);
/* by_src: one group per route (--order any); per_file: one group per FILE
 * (provenance); else one group over all FILEs (content). */
int lb_parity_groups(struct lb_parity *p, int by_src, int per_file, struct lb_error *err);
void lb_parity_groups_free(struct lb_parity *p);
/* The first valid line of FILE fi: 1 (*off, *hash set), 0 none, < 0 error.
 * Bad lines met on the way are not counted. */
int lb_parity_first_line(struct lb_parity *p, int fi, uint64_t *off, uint64_t *hash,
                         struct lb_error *err);
/* The hash of the valid line that starts at off in FILE fi: 1, 0 when no
 * valid line starts there, < 0 error. */
int lb_parity_line_at(struct lb_parity *p, int fi, uint64_t off, uint64_t *hash,
                      struct lb_error *err);

/* The index in p->names of the stream p->line_tmpl routes rec to, or
 * UINT16_MAX. */
uint16_t lb_parity_line_sidx(const struct lb_parity *p, const struct lb_record *rec);

/* parity_gen.c: routes, checkpoints, generations, pending */
int lb_parity_routes(struct lb_parity *p, struct lb_error *err);
void lb_parity_routes_free(struct lb_parity *p);
struct lb_route *lb_parity_route_of(struct lb_parity *p, const struct lb_slice *src);
/* HGET each route's checkpoint and find its FILE (before XINFO: see parity.c). */
int lb_parity_checkpoints(struct lb_parity *p, struct lb_error *err);
/* *g: the group an entry of route r at (it->off, it->hash) goes to, or NULL
 * when its generation is none of the FILEs' (*older: one before the first
 * that is: not compared). 0 or < 0 (err set). */
int lb_parity_gen_route(struct lb_parity *p, struct lb_route *r, const struct lb_align_item *it,
                        struct lb_group **g, int *older, struct lb_error *err);
/* Is this line of FILE fi pending (past what the checkpoint committed)? */
int lb_parity_line_pending(const struct lb_parity *p, const struct lb_align_item *f);
/* Say what the runs of each route were that no FILE holds. */
void lb_parity_gen_report(struct lb_parity *p);

/* parity_baseline.c: --baseline and --write-baseline */
struct lb_baseline;
int lb_baseline_load(const char *path, struct lb_baseline **out, struct lb_error *err);
void lb_baseline_destroy(struct lb_baseline *b);
uint64_t lb_baseline_size(const struct lb_baseline *b);
uint64_t lb_baseline_unused(const struct lb_baseline *b);
int lb_parity_blw_open(struct lb_parity *p, struct lb_error *err);
/* One difference into the baseline being written (f and/or s). */
void lb_parity_blw_add(struct lb_parity *p, enum lb_parity_kind kind, const struct lb_align_item *f,
                       const struct lb_align_item *s);
int lb_parity_blw_close(struct lb_parity *p, int commit, struct lb_error *err);
/* Does the baseline accept this difference (every side it has)? Marks
 * the items used. */
int lb_parity_accepted(struct lb_parity *p, const struct lb_align_item *f,
                       const struct lb_align_item *s);

/* parity_outcome.c: counts, examples and their texts */
void lb_parity_count(struct lb_parity *p, enum lb_outcome k, int file, uint64_t n);
void lb_parity_example(struct lb_parity *p, enum lb_parity_kind kind, const struct lb_align_item *f,
                       const struct lb_align_item *s);
void lb_parity_examples_sort(struct lb_parity *p);
void lb_parity_outcome(struct lb_parity *p, int group_has_entries, enum lb_align_kind kind,
                       const struct lb_align_item *f, const struct lb_align_item *s);
/* A difference: into the baseline being written; accepted, or counted as
 * out with an example. */
void lb_parity_diff(struct lb_parity *p, enum lb_parity_kind pk, enum lb_outcome out,
                    const struct lb_align_item *f, const struct lb_align_item *s);
int lb_parity_fill(struct lb_parity *p, struct lb_error *err);

/* parity_report.c: the report to stdout or --out */
int lb_parity_write_out(const struct lb_parity_opts *o, const struct lb_parity_report *r,
                        struct lb_error *err);

#endif
