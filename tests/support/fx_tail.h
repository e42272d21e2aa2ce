/*
 * fx_tail.h - the fixture of the `logbridge tail` tests: a redis-server of
 * its own per test, a temp dir with the file to follow and logbridge's log,
 * the logbridge under test and a writer child (both killed by the teardown
 * if a test failed first), and the waits and checks every tail test makes.
 *
 * A test file with state of its own embeds struct fx_tail as the FIRST
 * member of its struct and sets it up with fx_tail_setup_sized(); the
 * teardown frees that struct through its first member.
 */
#ifndef FX_TAIL_H
#define FX_TAIL_H

#include <stddef.h>
#include <sys/types.h>
#include <hiredis/hiredis.h>

#include "lbtest.h"
#include "tail_util.h"

struct fx_tail {
    struct lbt_redis r;
    redisContext *c;
    char dir[256];
    char path[512];    /* dir/app.log: the file followed */
    char log[512];     /* dir/logbridge.log: a spawned logbridge's output */
    char metrics[512]; /* dir/metrics.prom */
    pid_t pid;         /* a spawned logbridge */
    pid_t writer;      /* a writer child (tu_fork) */
};

/* cmocka setups: a fixture with its own redis-server, without / with AOF. */
int fx_tail_setup(void **state);
int fx_tail_setup_aof(void **state);
/* A fixture inside a larger struct of size bytes (struct fx_tail first). */
int fx_tail_setup_sized(void **state, size_t size, int aof);
/* Kills the writer and logbridge if they still run, fails (non-zero) when
 * logbridge's log holds a sanitizer report, stops the server, removes dir. */
int fx_tail_teardown(void **state);

/* Run `logbridge tail --redis URL --stream s ARGS...` (NULL-terminated) to
 * its end; its stderr in err (may be NULL). Asserts that stderr holds no
 * sanitizer report. Returns the exit code. */
int fx_tail_run(struct fx_tail *t, char *err, size_t errcap, ...);
/* Start `logbridge tail --redis URL --stream s ARGS...` in the background,
 * its output in t->log; t->pid. */
void fx_tail_spawn(struct fx_tail *t, ...);
/* Signal the spawned logbridge and wait for it: its exit code. */
int fx_tail_stop(struct fx_tail *t, int sig);

/* Fail (with the last dump bytes of the log) unless stream s holds exactly
 * the lines 0..n-1 of src (tu_check_seq). */
void fx_tail_check_seq(struct fx_tail *t, const char *src, long n, int strict, size_t dump);
/* Fail (with the end of the log) unless XLEN s reaches n within timeout_ms. */
void fx_tail_wait_xlen(struct fx_tail *t, long long n, int timeout_ms);

#endif
