/*
 * import_int.h - what import.c and import_identify.c share: the options, a
 * file's counts, the import's state, and where a file starts.
 */
#ifndef LB_IMPORT_INT_H
#define LB_IMPORT_INT_H

#include <limits.h>
#include <stdint.h>

#include "checkpoint.h"
#include "cli.h"
#include "error.h"

struct lb_import_opts {
    struct lb_common c;
    const char *stream;
    int id_ts;
    long long batch;
    const char *name;
    int strict, dry_run, final;
    double retry_for;
    int progress; /* -1: when stderr is a terminal */
    int summary_json;
    char **files;
    int nfiles;
};

struct lb_file_stats {
    const char *path;
    uint64_t lines, imported, bad, blank, partial, bytes, resumed_at;
    uint64_t regressions; /* the checkpoint went back under it (a failover) */
    int skipped;
    char covered_by[PATH_MAX]; /* another src whose checkpoint knows this file */
    uint64_t covered_to;       /* ... up to this offset */
};

#define LB_IMPORT_FLIGHT 2    /* batches in flight: Redis runs one while we parse the next */
#define LB_IMPORT_REWOUND 100 /* not an error: reading restarts at the checkpoint */
#define LB_IMPORT_COVERED 101 /* not an error: other checkpoints cover the whole file */

struct lb_import {
    const struct lb_import_opts *o;
    struct lb_redis *r;
    int ckpts; /* checkpoints can be read (always, except a dry run without Redis) */
    struct lb_sink *sink;
    struct lb_feed *feed;
    struct lb_committer *cm;

    struct lb_source *s;
    char src[PATH_MAX];
    struct lb_file_stats *st;
    uint64_t reordered;
    uint64_t wait_short; /* batches WAIT found short of --wait-replicas */
    uint64_t ck_off;     /* where the checkpoint of src stands (as far as we know) */

    double t0, last_progress;
    uint64_t lines_total;
    double trouble_since; /* 0, or when Redis started refusing or went away */
    unsigned attempt;
    const char *path;

    struct lb_ckpt_match match; /* lb_import_identify's, kept off the stack */
    char why[256];
};

/* Where a file starts: lb_import_identify's answer. */
struct lb_import_start {
    struct lb_ckpt ck;   /* where to resume (present or not) */
    struct lb_ckpt held; /* what Redis holds for im->src now: the first batch is fenced on it */
    int unfenced;        /* ... unless set: an unreadable checkpoint is replaced */
    int own_unreadable;  /* the checkpoint of the file's own src could not be read */
};

/* Open path as im->s, closing the one before (to read a file again from its
 * start). A read that waits for input (stdin, a pipe) also waits for a stop. */
int lb_import_reopen(struct lb_import *im, const char *path, struct lb_error *err);

/* Where to start reading im->s, the file at path (import_identify.c):
 * 0 (*at says where), LB_IMPORT_COVERED, or an error. */
int lb_import_identify(struct lb_import *im, const char *path, struct lb_import_start *at,
                       struct lb_error *err);

#endif
