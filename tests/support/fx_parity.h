/*
 * fx_parity.h - the fixture and helpers of the `logbridge parity` tests: one
 * redis-server for the test binary (pu_redis; every test starts from
 * FLUSHALL with a temp dir of its own), running import and parity (the JSON
 * report parsed and its counts checked), and crafting streams entry by entry
 * with explicit IDs in both encodings, with and without provenance (prefix
 * pu_). Expected counts come from the edit a test makes, never from parity's
 * own code.
 */
#ifndef FX_PARITY_H
#define FX_PARITY_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include <cjson/cJSON.h>

#include "lbtest.h"

/* The binary's redis-server (fx_parity_group_setup). */
extern struct lbt_redis pu_redis;

struct fx_parity {
    char dir[256];
    redisContext *c;
};

int fx_parity_group_setup(void **state);
int fx_parity_group_teardown(void **state);
int fx_parity_setup(void **state);
int fx_parity_teardown(void **state);

struct pu_pres {
    int rc;
    cJSON *root;
    char out[1 << 16];
    char err[8192];
};

struct pu_want {
    long long file_lines, stream_entries, matched, missing, extra, mismatched, ooo, trimmed, bad;
};

struct pu_ids {
    char (*id)[48];
    long n;
};

/* One crafted entry from a legacy line (split at the first three '|'). */
struct pu_craft {
    int prov;        /* add src and off */
    int json;        /* the json encoding */
    int no_ts;       /* leave the timestamp field out (mirror takes the ID's) */
    const char *src; /* src value */
};

/* A file's lines: text (without '\n') and offset. */
struct pu_flines {
    char *buf;
    size_t len;
    size_t n;
    size_t *off, *lenv;
};

/* An argument vector for lbt_run. */
struct pu_args {
    const char *v[64];
    int n;
};
void pu_args_add(struct pu_args *a, const char *s);
/* Add the rest of a NULL-terminated list. */
void pu_args_addv(struct pu_args *a, va_list ap);

/* The four ways a stream can hold lines: provenance or not, fields or json
 * (the import options, NULL for the default). */
#define PU_NMODES 4
struct pu_mode {
    const char *prov;
    const char *enc;
};
extern const struct pu_mode pu_modes[PU_NMODES];

/* dir/name of the test's temp dir. */
void pu_path_in(const struct fx_parity *f, const char *name, char *out, size_t cap);
/* n standard lines, numbered from first. */
void pu_write_lines(const char *path, long first, long n);
void pu_write_gz(const char *path, const char *data, size_t n);
/* logbridge import --final of files (NULL-terminated, after options); fails
 * unless it exits 0. */
void pu_import(const char *stream, const char *opt1, const char *opt2, ...);
long long pu_pnum(const struct pu_pres *r, const char *key);
/* logbridge parity --report json ARGS... (NULL-terminated): exit code and
 * parsed report in r. */
void pu_parity(struct pu_pres *r, ...);
void pu_pres_free(struct pu_pres *r);
/* The report's counts, equal, exit code and number of examples are w's. */
void pu_expect_report(const struct pu_pres *r, struct pu_want w);
/* The report's pending and accepted counts are these. */
void pu_expect_pending_accepted(const struct pu_pres *r, long long pending, long long accepted);
/* Example i of the report, and its string / number fields. */
const cJSON *pu_example(const struct pu_pres *r, int i);
const char *pu_ex_str(const cJSON *e, const char *key);
long long pu_ex_num(const cJSON *e, const char *key);
/* Every ID of a stream, in order. */
void pu_ids_load(redisContext *c, const char *stream, struct pu_ids *ids);
void pu_ids_free(struct pu_ids *ids);
/* Run a command; fail on an error reply. */
void pu_cmd_ok(redisContext *c, int argc, const char **argv);
void pu_xdel(redisContext *c, const char *stream, const char *id);
/* XADD a legacy line as an entry with ID ms-seq, as cr says. */
void pu_xadd_line(redisContext *c, const char *stream, uint64_t ms, uint64_t seq, const char *line,
                  size_t n, uint64_t off, const struct pu_craft *cr);
/* A file's lines (text without '\n', offset). */
void pu_flines_load(const char *path, struct pu_flines *fl);
void pu_flines_free(struct pu_flines *fl);
/* XADD line i of fl with ID ms-0. */
void pu_xadd_flines(redisContext *c, const char *stream, uint64_t ms, const struct pu_flines *fl,
                    size_t i, const struct pu_craft *cr);
/* The absolute path logbridge records for path. */
void pu_abs_of(const char *path, char *out, size_t cap);

#endif
