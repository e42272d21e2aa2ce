/*
 * source.h - reading a log file (plain, .gz inflated with zlib, or stdin,
 * plain or gzip) and splitting it into lines.
 *
 * A line is a slice of the source's read buffer, valid until the next
 * lb_source_fill: the caller sends its batch before asking for more input.
 * An unterminated last line is held back (never returned) unless the caller
 * takes it with lb_source_take_partial. Lines longer than max_line are
 * returned as too_long with their first LB_SOURCE_RAW_MAX bytes, without
 * ever buffering more than max_line bytes of them.
 */
#ifndef LB_SOURCE_H
#define LB_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

#define LB_SOURCE_RAW_MAX (64 * 1024) /* DLQ keeps the first 64 KiB of a line */
#define LB_FP_LEN 1024                /* fingerprint covers up to 1 KiB */
#define LB_FP_HEX 17                  /* 16 hex digits + NUL */

struct lb_line {
    const char *p;   /* the line without '\n' (for too_long: its first bytes) */
    size_t n;        /* bytes at p */
    size_t full_len; /* the line's real length without '\n' */
    uint64_t off;    /* offset of its first byte (decompressed for .gz) */
    uint64_t end;    /* offset just past its '\n' (or its last byte if partial) */
    int too_long;
};

enum lb_source_kind { LB_SOURCE_FILE, LB_SOURCE_GZ, LB_SOURCE_STDIN };

struct lb_source;

/* Open path ("-" = stdin). A file that starts with the gzip magic is read
 * through zlib. max_line: the longest valid line. Returns NULL with err set.
 * Free with lb_source_close. */
struct lb_source *lb_source_open(const char *path, size_t max_line, struct lb_error *err);

/* A read that waits for input (stdin or a FIFO that is a pipe, a terminal)
 * waits for stop_fd too (the process's stop eventfd, signals.h): once it is
 * readable, lb_source_fill returns LB_ESTOP instead of waiting (what was
 * read stays buffered). Input that has arrived is always read first. */
void lb_source_stop_on(struct lb_source *s, int stop_fd);

/* Adopt an open fd of a plain file (tail). The source owns fd afterwards. */
struct lb_source *lb_source_from_fd(int fd, size_t max_line, struct lb_error *err);
void lb_source_close(struct lb_source *s);

/* Like lb_source_from_fd, but the buffer starts at `initial` bytes and grows
 * on demand (doubling when a read fills it or a line does not fit) up to the
 * usual max_line + 1 + 256 KiB, so that many mostly idle files (tail) hold
 * little memory. initial 0 = the usual size from the start. */
struct lb_source *lb_source_from_fd_small(int fd, size_t max_line, size_t initial,
                                          struct lb_error *err);

/* Give a small-start buffer back (to its initial size) when what it holds
 * fits, e.g. when a tailed file has been read to its end; also frees the
 * head kept for a too-long line that is finished. No-op for other sources.
 * Like lb_source_fill, it invalidates lines returned so far. Reading again
 * after lb_source_fill returned 0 (end of input for now) picks up what a
 * growing file gained since. */
void lb_source_shrink(struct lb_source *s);

/* 1 and *line set when a complete line is buffered; 0 when more input is
 * needed (call lb_source_fill after sending the batch). */
int lb_source_next(struct lb_source *s, struct lb_line *line);

/* Read more input; invalidates lines returned so far. Returns bytes read
 * (0 at end of input for now), or a negative lb_err (LB_ESTOP: see
 * lb_source_stop_on). A pipe is read as soon as it has something: a producer
 * that pauses has what it wrote handed out at once. */
long lb_source_fill(struct lb_source *s, struct lb_error *err);

/* Take the held-back unterminated last line as a line (import --final,
 * stdin). Returns 1 when there was one. */
int lb_source_take_partial(struct lb_source *s, struct lb_line *line);

/* Bytes buffered after the last line returned (an unterminated line). */
uint64_t lb_source_pending(const struct lb_source *s);

/* Offset of the first byte not yet returned as part of a line. */
uint64_t lb_source_offset(const struct lb_source *s);

/* Skip to off, which must be the start of a line, on a fresh source: lseek
 * for plain files, read and discard for .gz and stdin. */
int lb_source_skip_to(struct lb_source *s, uint64_t off, struct lb_error *err);

/* Hex fingerprint (FNV-1a 64) of the first min(len, LB_FP_LEN) bytes.
 * Returns 0, or LB_EIO when the file holds fewer bytes than that. Safe to
 * call at any time (it reads with pread, or from the buffered head). */
int lb_source_fingerprint(struct lb_source *s, uint64_t len, char hex[LB_FP_HEX]);

/* Fingerprint of bytes already in hand (the rotation finder uses it). */
void lb_fp_hex(const void *p, size_t n, char hex[LB_FP_HEX]);

enum lb_source_kind lb_source_kind(const struct lb_source *s);
int lb_source_fd(const struct lb_source *s);
dev_t lb_source_dev(const struct lb_source *s);
ino_t lb_source_ino(const struct lb_source *s);
/* Size of a plain file now (fstat), or -1 when unknown (.gz, stdin). */
long long lb_source_size(const struct lb_source *s);
/* For progress: the underlying file's size (compressed for .gz; -1 for
 * stdin) and the bytes of it consumed. */
long long lb_source_raw_size(const struct lb_source *s);
long long lb_source_raw_pos(const struct lb_source *s);

#endif
