/*
 * parity.h - `logbridge parity`: are these legacy files and this stream equal?
 *
 * The command itself is lb_cmd_parity (jobs.h). This header exposes its pure
 * pieces so that unit tests can drive them without Redis or files:
 *
 *  - the comparable text of a record (the legacy line after mirror's CR/LF
 *    escape, without the '\n') and the 64-bit hash used to compare it;
 *  - the sequence aligner: two ordered sequences of items (file lines, stream
 *    entries) in bounded memory, resynchronising after gaps and telling
 *    matched / mismatched / out of order / missing / extra apart;
 *  - the multiset of `--order any`;
 *  - the report (parity_report.c): text, JSON and JUnit writers.
 *
 * Contract: DESIGN.md section 5 (`parity`), sections 1-3, mirror's escape.
 */
#ifndef LB_PARITY_H
#define LB_PARITY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "record.h"

/* ---- comparable text and hash --------------------------------------------- */

/* 64-bit hash of n bytes (wyhash-style multiply-mix; not cryptographic). */
uint64_t lb_parity_hash(const void *p, size_t n);

/* A 64-bit finaliser (murmur3's): spreads keys over hash-table slots. */
static inline uint64_t lb_parity_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* Room lb_parity_text may need: an upper bound, no scan of the bytes. */
size_t lb_parity_text_cap(const struct lb_record *rec);

/* Write "role|ts|type|data" with CR and LF inside values as the two-character
 * escapes \r and \n: exactly lb_format_line's output without its '\n'.
 * out has room for lb_parity_text_cap(rec) bytes. Returns the length. */
size_t lb_parity_text(const struct lb_record *rec, char *out);

/* ---- the sequence aligner ------------------------------------------------- */

#define LB_ORD_NONE INT64_MIN /* an item whose order value is unknown */

/*
 * One file line or one stream entry, reduced to what alignment needs.
 * key decides which items are "the same line" (the byte offset when entries
 * carry provenance, else the content hash); hash is the content hash; ord is
 * an order value for big gaps (offset, or time in ms). The other fields only
 * travel back to the caller through the emit callback.
 */
struct lb_align_item {
    uint64_t key;
    uint64_t hash;
    int64_t ord;
    uint64_t line; /* file: 1-based physical line number */
    uint64_t off;  /* file: offset of the line; entry: its off field */
    uint64_t ms;   /* entry: ID */
    uint64_t seq;
    uint32_t file;   /* file: index of the FILE argument */
    uint16_t flags;  /* set by the aligner */
    uint16_t stream; /* entry: index of its stream (DESIGN.md section 8) */
    uint64_t n;      /* set by the aligner: position in its own sequence */
    uint64_t next;   /* set by the aligner */
};

enum lb_align_kind {
    LB_ALIGN_MATCH,    /* f and s: same line, same content, in order */
    LB_ALIGN_MISMATCH, /* f and s: same position or key, different content */
    LB_ALIGN_OOO,      /* f and s: same content, out of order */
    LB_ALIGN_MISSING,  /* f: no entry */
    LB_ALIGN_EXTRA,    /* s: no line */
    LB_ALIGN_HEAD,     /* f: before the first entry the stream has (trimmed or cut by --from) */
    LB_ALIGN_TAIL      /* f: after the last line that has an entry (cut by --to?) */
};

/* Next file item: 1 = *out filled, 0 = no more lines, < 0 = an lb_err. */
typedef int (*lb_align_pull_fn)(void *ctx, struct lb_align_item *out);
/* One outcome; f or s is NULL when the kind has no such side. */
typedef void (*lb_align_emit_fn)(void *ctx, enum lb_align_kind kind, const struct lb_align_item *f,
                                 const struct lb_align_item *s);

struct lb_align;

/*
 * window: how far ahead (items, each side) a gap or a move is looked for;
 * it bounds memory to a few times window items. ordered: keys are offsets
 * that increase along the file, so that a gap of any length is resolved by
 * comparing them (provenance within one file). Returns NULL on out of memory.
 */
struct lb_align *lb_align_create(size_t window, int ordered, lb_align_pull_fn pull,
                                 lb_align_emit_fn emit, void *ctx);
void lb_align_destroy(struct lb_align *a);

/* Queue the next stream entry (copied). 0 or LB_ENOMEM. */
int lb_align_push(struct lb_align *a, const struct lb_align_item *s);

/* Align as far as the queued entries allow (stream_done = 0), or to the end of
 * both sequences (stream_done = 1: every line and entry is emitted once).
 * Returns 0, or a negative lb_err from pull or LB_ENOMEM. */
int lb_align_run(struct lb_align *a, int stream_done);

/* Entries queued and not yet decided. */
size_t lb_align_pending(const struct lb_align *a);

/* ---- the multiset of --order any ------------------------------------------ */

/* Counts per hash: 12 bytes a distinct value (8-byte hash, 4-byte count). */
struct lb_mset;
struct lb_mset *lb_mset_create(void);
void lb_mset_destroy(struct lb_mset *m);
int lb_mset_add(struct lb_mset *m, uint64_t h);  /* 0 or LB_ENOMEM */
int lb_mset_take(struct lb_mset *m, uint64_t h); /* 1 when one was there (and is taken) */
uint64_t lb_mset_total(const struct lb_mset *m); /* values left */
size_t lb_mset_bytes(const struct lb_mset *m);

/* ---- the report ------------------------------------------------------------- */

enum lb_parity_kind {
    LB_PK_MISSING,    /* missing_in_stream */
    LB_PK_EXTRA,      /* extra_in_stream */
    LB_PK_MISMATCHED, /* mismatched */
    LB_PK_OOO         /* out_of_order */
};

/* "missing_in_stream", ... (the names of the JSON count keys). */
const char *lb_parity_kind_name(enum lb_parity_kind k);

struct lb_parity_example {
    enum lb_parity_kind kind;
    int file;      /* index in files, or -1 */
    uint64_t line; /* 0 = none */
    uint64_t off;
    int has_id;
    uint64_t ms, seq;
    char *expected; /* the line's comparable text, or NULL; owned */
    size_t expected_n;
    char *actual; /* the entry's comparable text, or NULL; owned */
    size_t actual_n;
    int sidx;     /* the entry's stream (an index; has_id), else -1 */
    char *stream; /* the stream of the entry, or the one the line belongs to
                   * (a template rendered with it), or NULL; owned */
};

struct lb_parity_counts {
    uint64_t file_lines, stream_entries, matched, missing, extra, mismatched, ooo, trimmed, bad;
    uint64_t pending;  /* lines past the checkpoint: not committed yet (in file_lines) */
    uint64_t accepted; /* differences the baseline accepts */
    uint64_t accepted_lines, accepted_entries; /* their sides, for the partition */
    uint64_t outside; /* lines outside the --from/--to window: in no other count */
};

struct lb_parity_file {
    const char *path;          /* as given on the command line */
    const char *route;         /* the src its lines are compared with */
    int generation;            /* 0 = the newest FILE of its route, -1 the one before, ... */
    struct lb_parity_counts c; /* per file: everything but stream_entries and extra */
};

struct lb_parity_report {
    const char *stream;
    int order_any;
    int aligned_by; /* 0 content, 1 provenance */
    struct lb_parity_counts c;
    struct lb_parity_file *files;
    int nfiles;
    struct lb_parity_example *examples;
    size_t nexamples;
    double seconds;
    long long started;        /* Unix time the run started (JUnit timestamp) */
    const char *hostname;     /* JUnit hostname */
    const char *baseline;     /* --baseline, or NULL */
    uint64_t baseline_unused; /* its items that matched no difference */
};

/* No missing, extra, mismatched or out-of-order (trimmed, pending, accepted
 * and bad lines do not break equality). */
int lb_parity_equal(const struct lb_parity_counts *c);

/* Writers: 0, or -1 when writing failed (errno set). */
int lb_parity_write_text(FILE *out, const struct lb_parity_report *r);
int lb_parity_write_json(FILE *out, const struct lb_parity_report *r);
int lb_parity_write_junit(FILE *out, const struct lb_parity_report *r);

#endif
