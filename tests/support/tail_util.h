/*
 * tail_util.h - support for the `logbridge tail` tests: numbered lines whose
 * sequence can be checked in the stream, writer processes that append while
 * logbridge runs (and rotate the file under it), and conditions to wait for.
 *
 * A test line is "app|2025-06-18T10:00:00.000Z|g<gen>|<seq> <padding>": the
 * TYPE names the generation it was written into and DATA starts with its
 * sequence number, so that the stream can be compared with what was written
 * exactly (every seq once; in order within a generation).
 */
#ifndef TAIL_UTIL_H
#define TAIL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <hiredis/hiredis.h>

#include "lbtest.h"

/* A test line with a newline; pad: bytes of padding in DATA. Returns its length. */
size_t tu_line(char *out, size_t cap, int gen, long seq, int pad);
/* Append lines [from, to) of generation gen to path (opened O_APPEND). */
int tu_append_lines(const char *path, int gen, long from, long to, int pad);
/* write(2) all of it. */
int tu_write_all(int fd, const void *p, size_t n);

/* A writer for tu_fork(tu_writer_main, &w): valid lines 0..valid-1 of
 * generation 0 (tu_line, 0-59 bytes of padding) and, after every 97th valid
 * one, a bad line "bad <b>" while b < bad, appended to path in writes of
 * random sizes (so lines are often cut between two writes), pausing 1 ms
 * after every per_ms-th line. The sizes come from seed. */
struct tu_writer {
    const char *path;
    long valid, bad;
    int per_ms;
    uint64_t seed;
};
int tu_writer_main(void *ctx);
/* The DLQ dlq holds exactly the writer's bad lines "bad 0".."bad n-1", in
 * order. Returns 0, or -1 with why. */
int tu_check_bad(redisContext *c, const char *dlq, long n, char *why, size_t cap);

/* env LB_TEST_SCALE (at least 1). */
int tu_scale(void);
/* Seeded rng: the seed comes from LB_TEST_SEED or the clock, printed. */
uint64_t tu_seed(const char *what);
uint64_t tu_rand(uint64_t *s);

/* Argument vector of a logbridge run. */
struct tu_args {
    const char *v[120]; /* lbt_spawn passes at most 126 */
    int n;
};
void tu_args_init(struct tu_args *a);
void tu_args_add(struct tu_args *a, ...); /* NULL-terminated */

/* Run a function in a child process (it _exits with the return value). */
pid_t tu_fork(int (*fn)(void *), void *ctx);
/* Nonblocking: 1 and *code when pid ended. */
int tu_try_wait(pid_t pid, int *code);

/* The checkpoint offset of src (-1 when absent or on error); line too when
 * line != NULL. */
long long tu_ckpt_off(redisContext *c, const char *ckpt_key, const char *src, long long *line);
/* dev/ino of the checkpoint of src: 0 or -1. */
int tu_ckpt_ident(redisContext *c, const char *ckpt_key, const char *src, unsigned long long *dev,
                  unsigned long long *ino);

/* Wait until XLEN key >= n (timeout ms). Returns 1 when it held. */
int tu_wait_xlen(redisContext *c, const char *key, long long n, int timeout_ms);
/* Wait until the checkpoint of src is at off >= want. */
int tu_wait_ckpt(redisContext *c, const char *ckpt_key, const char *src, long long want,
                 int timeout_ms);

/* Check the stream: its entries (only those whose src is src, when src is
 * not NULL) carry sequence numbers that are exactly 0..n-1, each once, in
 * increasing order within each generation (TYPE g<gen>), and in increasing
 * order overall when strict. Returns 0, or -1 with why. */
int tu_check_seq(redisContext *c, const char *stream, const char *src, long n, int strict,
                 char *why, size_t cap);

/* utime + stime of pid in clock ticks, or -1. */
long long tu_cpu_ticks(pid_t pid);
/* VmRSS of pid in KiB, or -1. */
long tu_rss_kib(pid_t pid);

/* The file position of pid's descriptor open on path (from /proc/PID/fdinfo),
 * or -1: how far logbridge has read a file. */
long long tu_fd_pos(pid_t pid, const char *path);

/* Print the last bytes of a log file on stderr (for a failing test). */
void tu_dump(const char *path, size_t last);
/* 0 when the text (or log file) holds no sanitizer report, else -1 after
 * printing it: checked by teardowns, since logbridge runs as a child. */
int tu_text_sane(const char *text);
int tu_log_sane(const char *path);

/* Wait until the file holds needle (e.g. logbridge's "following" line: its
 * signals are handled from then on). Returns 1 when it did. */
int tu_wait_log(const char *path, const char *needle, int timeout_ms);

/* 1 when file holds needle. */
int tu_file_has(const char *path, const char *needle);

#endif
