/*
 * parity_int.h - inside `logbridge parity` (not for other modules): the
 * job's state and what its files share. parity.c is the command and its
 * drivers (strict, any); parity_align.c the aligner (pure); parity_file.c
 * the file side (lines, groups, comparable text and hash); parity_outcome.c
 * the outcome (counts, examples, trimmed rule, multiset); parity_report.c
 * the report.
 */
#ifndef LB_PARITY_INT_H
#define LB_PARITY_INT_H

#include "parity.h"
#include "stream_set.h"

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
    const char *stream;        /* streams.v[0] */
    struct lb_streams streams; /* every --stream (DESIGN.md section 8) */
    const char *src;
    const char *from, *to;
    int order_any;
    enum { LB_REPORT_TEXT, LB_REPORT_JSON, LB_REPORT_JUNIT } report;
    const char *out;
    long long max_examples;
    char **files;
    int nfiles;
};

/* Lines of one group's files, in order, one at a time. */
struct lb_reader {
    const int *files;
    int nfiles, cur;
    struct lb_source *s;
    uint64_t line_no;
};

struct lb_parity;

struct lb_group {
    struct lb_parity *p;
    const char *src;
    size_t src_len;
    int *files;
    int nfiles;
    int ordered;   /* key = off: one file per src, offsets unique */
    int keyed_off; /* key = content ^ off: several files share the src */
    uint64_t entries;
    int dirty;
    struct lb_reader rd;
    struct lb_align *a;
    /* --order any: the state of the walk over the lines */
    int seen_match;
    /* an operator's likely mistake, told once at the end */
    uint64_t last_off, restarts;
};

struct lb_pfile {
    const char *path;
    char src[PATH_MAX];
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
    struct lb_group *last_group;
    enum lb_parity_mode mode;
    int utf8_rule, utf8_known;

    struct lb_stream_info si; /* what XINFO STREAM said */
    uint64_t budget;          /* lines that may still count as trimmed */
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
    LB_OUT_OUTSIDE
};

/* parity_file.c: the file side */
int lb_parity_text_room(struct lb_parity *p, size_t need, struct lb_error *err);
int lb_parity_feed(struct lb_parity *p, struct lb_error *err);
void lb_parity_reader_close(struct lb_reader *rd);
int lb_parity_reader_next(struct lb_parity *p, struct lb_reader *rd, struct lb_align_item *it,
                          int64_t *ts, struct lb_error *err);
void lb_parity_group_keys(const struct lb_group *g, struct lb_align_item *it, int64_t ts);
int lb_parity_groups(struct lb_parity *p, int by_src, int prov, struct lb_error *err);
void lb_parity_groups_free(struct lb_parity *p);
struct lb_group *lb_parity_group_of(struct lb_parity *p, const struct lb_slice *src);

/* parity_outcome.c: counts, examples and their texts */
void lb_parity_count(struct lb_parity *p, enum lb_outcome k, int file, uint64_t n);
void lb_parity_example(struct lb_parity *p, enum lb_parity_kind kind, const struct lb_align_item *f,
                       const struct lb_align_item *s);
void lb_parity_examples_sort(struct lb_parity *p);
void lb_parity_outcome(struct lb_parity *p, int group_has_entries, enum lb_align_kind kind,
                       const struct lb_align_item *f, const struct lb_align_item *s);
int lb_parity_fill(struct lb_parity *p, struct lb_error *err);

/* parity_report.c: the report to stdout or --out */
int lb_parity_write_out(const struct lb_parity_opts *o, const struct lb_parity_report *r,
                        struct lb_error *err);

#endif
