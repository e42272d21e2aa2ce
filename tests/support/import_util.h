/*
 * import_util.h - support for the `logbridge import` tests: fixtures whose
 * every line's expected fate is known (valid, bad with a reason, blank), and
 * a verifier that compares a stream and its DLQ with a fixture entry by
 * entry (fields, order, src/off provenance, line numbers, raw bytes).
 *
 * The expected values are derived from the fixture's own bytes by the rules
 * of DESIGN.md sections 1-3, never from logbridge's code.
 *
 * import_util.c builds the fixtures (and holds the process and Redis
 * helpers); import_verify.c compares what logbridge wrote with them.
 */
#ifndef IMPORT_UTIL_H
#define IMPORT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <hiredis/hiredis.h>
#include <cjson/cJSON.h>

#include "checkpoint.h"
#include "lbtest.h"

/* ---- random numbers (seeded, printed, repeatable) --------------------------- */

struct iu_rng {
    uint64_t s;
};

uint64_t iu_rand(struct iu_rng *r);
/* Uniform in [0, n) (n > 0). */
uint64_t iu_below(struct iu_rng *r, uint64_t n);
/* The seed from env LB_TEST_SEED, else from the clock and pid; printed on
 * stdout with the test's name so that a failing run can be repeated. */
uint64_t iu_seed(const char *what);
/* env LB_TEST_SCALE (default 1, at least 1). */
int iu_scale(void);

/* ---- fixtures ------------------------------------------------------------------ */

enum iu_kind { IU_VALID, IU_BAD, IU_BLANK };

struct iu_line {
    uint64_t off;       /* offset of the first byte */
    size_t len;         /* the line's bytes, without its ending ('\r' of CRLF excluded) */
    size_t end_len;     /* 0: unterminated (partial), 1: "\n", 2: "\r\n" */
    int kind;           /* enum iu_kind */
    const char *reason; /* IU_BAD: the expected reason code */
    int64_t ts_ms;      /* IU_VALID: the parsed timestamp (ms), or INT64_MIN if not given */
    char *want[4];      /* IU_VALID: expected role/timestamp/type/data when they are not
                         * the line split at '|' (jsonl); NULL = split the line */
};

struct iu_fix {
    char *buf; /* the file's bytes */
    size_t len, cap;
    struct iu_line *lines;
    size_t n, ncap;
};

void iu_fix_init(struct iu_fix *f);
void iu_fix_free(struct iu_fix *f);

/* Append a line: p[0..n) without its ending; ending is "\n", "\r\n" or ""
 * (an unterminated last line). */
void iu_fix_add(struct iu_fix *f, const void *p, size_t n, const char *ending, int kind,
                const char *reason, int64_t ts_ms);
/* A valid line "role|ts|type|data\n" with a known parsed timestamp. */
void iu_fix_valid(struct iu_fix *f, const char *role, const char *ts, int64_t ts_ms,
                  const char *type, const char *data);
/* Set the expected role/timestamp/type/data of the last line added (for
 * lines whose fields are not the line split at '|', e.g. jsonl). */
void iu_fix_expect(struct iu_fix *f, const char *role, const char *ts, const char *type,
                   const char *data);
/* A bad line (NUL-free text) with "\n". */
void iu_fix_bad(struct iu_fix *f, const char *text, const char *reason);

struct iu_gen {
    long lines;         /* how many lines */
    int bad_permille;   /* bad lines per 1000 (~10 = 1 %) */
    int blank_permille; /* blank lines per 1000 */
    int crlf_permille;  /* CRLF endings per 1000 */
    size_t max_line;    /* --max-line the test passes (too_long lines exceed it); 0 = none */
    int64_t t0_ms;      /* first timestamp; later ones never go back */
};

/* A mixed fixture: roles, ISO-8601 ms timestamps (some with offsets, some
 * epoch ms), DATA of 0-200 bytes that sometimes holds '|', bad lines of every
 * pipe reason (fields, role, type, timestamp, too_long when max_line > 0). */
void iu_fix_gen(struct iu_fix *f, const struct iu_gen *g, struct iu_rng *rng);

int iu_fix_write(const struct iu_fix *f, const char *path);
/* Write it gzip-compressed (zlib). */
int iu_fix_write_gz(const struct iu_fix *f, const char *path);

/* Counts of lines[0..upto). */
void iu_fix_counts(const struct iu_fix *f, size_t upto, size_t *valid, size_t *bad, size_t *blank);
/* Offset just past line i (its ending included). */
uint64_t iu_fix_line_end(const struct iu_fix *f, size_t i);
/* The index of the line that starts at off (lines[i].off == off), or
 * f->n when off is the end of the last line; (size_t)-1 otherwise. */
size_t iu_fix_line_at(const struct iu_fix *f, uint64_t off);

/* ---- verifying ------------------------------------------------------------------ */

struct iu_expect {
    const char *stream;     /* the target stream */
    const char *dlq;        /* the DLQ key */
    const char *src;        /* expected src field */
    int provenance;         /* 1: src and off fields expected */
    int json;               /* --encoding json */
    const char *json_field; /* NULL = json_payload */
    int id_ts;              /* check ID ms = max(ts, stream's top) */
    size_t from, upto;      /* lines [from, upto) of the fixture are expected */
    size_t stream_skip;     /* entries already in the stream before ours */
    size_t dlq_skip;        /* entries already in the DLQ before ours */
};

/* Compare the stream and the DLQ with lines [from, upto): every valid line
 * exactly once in order with the right fields, every bad line exactly once in
 * the DLQ with src/off/line/reason/raw/raw_len, nothing else. Returns 0, or
 * -1 with a description of what differs (first mismatches and a tally). */
int iu_verify(redisContext *c, const struct iu_fix *f, const struct iu_expect *e, char *why,
              size_t cap);

/* The checkpoint of src: 1 present, 0 absent, -1 error. */
int iu_ckpt(redisContext *c, const char *key, const char *src, struct lb_ckpt *ck);

/* Check that the checkpoint of src stands just past line upto-1 of the
 * fixture (off, line), with fp of its first bytes, dev/ino of path (when not
 * NULL) and id = last_id (when not NULL). Returns 0 or -1 with why. */
int iu_check_ckpt(redisContext *c, const char *key, const char *src, const struct iu_fix *f,
                  size_t upto, const char *path, const char *last_id, char *why, size_t cap);

/* Consistency after a crash: the checkpoint (if any) stands at a line
 * boundary L, the stream holds exactly the valid lines of [0, L) and the DLQ
 * exactly the bad ones, and the last entry of each is the last of those
 * lines. *line_out = L. Returns 0 or -1 with why. */
int iu_check_prefix(redisContext *c, const struct iu_fix *f, const char *stream, const char *dlq,
                    const char *ckpt_key, const char *src, size_t *line_out, char *why, size_t cap);

/* The ID of the last entry of key ("" when empty). Returns 0 or -1. */
int iu_last_id(redisContext *c, const char *key, char out[48]);

/* ---- processes and redis ------------------------------------------------------------ */

/* Argument vectors built up in a test. */
struct iu_args {
    const char *v[96];
    int n;
};
void iu_args_init(struct iu_args *a);
/* Append the NULL-terminated list of strings. */
void iu_args_add(struct iu_args *a, ...);

/* Nonblocking wait: 1 and *code (exit code, or 128+signal) when pid ended. */
int iu_try_wait(pid_t pid, int *code);

/* The "calls" of a command in INFO commandstats (e.g. "evalsha"), or -1. */
long long iu_cmd_calls(redisContext *c, const char *cmd);
/* Wait until Redis has at most n clients (ours included): a killed
 * logbridge's connection is gone, and with it any command it had sent but
 * Redis had not yet run. 1 when it happened before timeout_ms. */
int iu_wait_clients(redisContext *c, long n, int timeout_ms);
/* DBSIZE, or -1. */
long long iu_dbsize(redisContext *c);
/* Run a command given as a NULL-terminated list; 0 when the reply is not an error. */
int iu_cmd(redisContext *c, ...);

/* The summary JSON object in out (the line that starts with '{'); NULL when
 * none parses. Free with cJSON_Delete. */
cJSON *iu_summary(const char *out);
/* A number of the summary (or of files[i] when file >= 0); -1 when absent. */
double iu_jnum(const cJSON *sum, int file, const char *key);
/* A boolean of files[i]: 1, 0, or -1 when absent. */
int iu_jbool(const cJSON *sum, int file, const char *key);

/* The number of lines of s that contain needle. */
int iu_count_lines_with(const char *s, const char *needle);

#endif
