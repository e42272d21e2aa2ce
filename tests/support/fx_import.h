/*
 * fx_import.h - the fixture of the `logbridge import` tests (and of the tail
 * tests that compare a stream with an import_util fixture): a redis-server,
 * a temp dir with the file to read and logbridge's log, the expected lines
 * of up to two files, and the logbridges a test spawned (killed by the
 * teardown if a test failed first).
 *
 * The server is either the test's own (fx_import_setup*: needed when a test
 * kills or restarts it, or starts it with AOF or extra settings) or one per
 * test binary (fx_import_group_setup with fx_import_setup_shared: each test
 * begins with FLUSHALL and CONFIG RESETSTAT), which saves a server start per
 * test where the tests allow it.
 *
 * A test file with state of its own embeds struct fx_import as the FIRST
 * member of its struct and sets it up with fx_import_setup_sized().
 */
#ifndef FX_IMPORT_H
#define FX_IMPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <hiredis/hiredis.h>

#include "import_util.h"
#include "lbtest.h"

#define FX_IMPORT_KIDS 64
#define FX_IMPORT_OUTCAP (1 << 18)

struct fx_import {
    struct lbt_redis r; /* the test's own server, or a copy of the binary's */
    redisContext *c;
    char dir[256];
    char path[512];             /* dir/app.log */
    char log[512];              /* dir/logbridge.log: spawned logbridges' output */
    struct iu_fix f, f2;        /* the expected lines of (up to) two files */
    struct iu_rng rng;          /* for iu_fix_gen */
    int own_server;             /* 1: r was started for this test (the teardown stops it) */
    struct lbt_redis *shared;   /* else the binary's server (r is a copy of it) */
    pid_t kids[FX_IMPORT_KIDS]; /* spawned logbridges, the latest ones kept */
    int nkids;
    char *out, *err; /* fx_import_run's stdout and stderr (FX_IMPORT_OUTCAP each) */
};

/* cmocka group setup/teardown: one redis-server for the whole binary. */
int fx_import_group_setup(void **state);
int fx_import_group_teardown(void **state);
/* A test on the group's server, flushed (FLUSHALL, CONFIG RESETSTAT). */
int fx_import_setup_shared(void **state);
/* The same inside a larger struct of size bytes (struct fx_import first).
 * *state is the group's struct lbt_redis, or a larger struct that begins
 * with one (its copy is what r becomes). */
int fx_import_setup_shared_sized(void **state, size_t size);

/* A test with its own server: without AOF, with AOF. */
int fx_import_setup(void **state);
int fx_import_setup_aof(void **state);
/* The same inside a larger struct of size bytes (struct fx_import first);
 * extra: redis-server arguments (may be NULL). */
int fx_import_setup_sized(void **state, size_t size, int aof, const char *extra);
/* Kills the spawned logbridges that still run, frees the fixtures, stops
 * the test's own server, removes dir. */
int fx_import_teardown(void **state);

/* lbt_spawn, remembering the pid for the teardown. */
pid_t fx_import_spawn(struct fx_import *t, const char *const *args, const char *log);
/* The same with stdin from a pipe (lbt_spawn_piped): *stdin_w is its write end. */
pid_t fx_import_spawn_piped(struct fx_import *t, const char *const *args, const char *log,
                            int *stdin_w);
/* Wait (with a deadline) for a spawned logbridge to end: its exit code, or
 * -1 on timeout (it is killed then). */
int fx_import_wait_exit(pid_t pid, int timeout_ms);
/* Print the end of t->log on stderr (for a failing test). */
void fx_import_dump_log(const struct fx_import *t);
/* Fail (with the end of the log) unless stream and dlq hold exactly the
 * lines of t->f as read from src (iu_verify, all lines, with provenance). */
void fx_import_verify_all(struct fx_import *t, const char *stream, const char *dlq,
                          const char *src);

/* Run `logbridge import --redis URL --no-progress ARGS...` (NULL-terminated)
 * with in as its stdin (when not NULL); stdout and stderr land in t->out and
 * t->err. Returns the exit code. */
int fx_import_run(struct fx_import *t, const char *in, size_t inlen, ...);
#define FX_IMPORT_RUN(t, ...) fx_import_run((t), NULL, 0, __VA_ARGS__, (const char *)NULL)
/* Fail, showing stdout and stderr, unless rc is want. */
void fx_import_expect_rc(const struct fx_import *t, int rc, int want);
/* Write t->f to t->path. */
void fx_import_write_fix(struct fx_import *t);
/* Fail (showing stderr) unless stream and dlq hold exactly lines [from, upto)
 * of t->f read from src (with provenance); or as x says. */
void fx_import_verify(struct fx_import *t, const char *stream, const char *dlq, const char *src,
                      size_t from, size_t upto);
void fx_import_verify_x(struct fx_import *t, const struct iu_expect *x);
/* Fail unless the checkpoint of src stands just past line upto-1 of t->f
 * (iu_check_ckpt). */
void fx_import_check_ckpt(struct fx_import *t, const char *key, const char *src, size_t upto,
                          const char *path, const char *last_id);
/* The summary on t->out: its totals and files[0] against lines [from, upto)
 * of t->f, partial lines held back. */
void fx_import_check_summary(const struct fx_import *t, size_t from, size_t upto, int partial);

/* 2025-06-18T10:00:00Z in ms. */
#define FX_IMPORT_T0 INT64_C(1750240800000)
/* Lines whose fields need escaping (quotes, backslashes, control bytes,
 * UTF-8, DATA that is already JSON or empty) and one bad line. */
void fx_import_add_mixed_lines(struct iu_fix *f);

#endif
