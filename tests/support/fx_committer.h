/*
 * fx_committer.h - the fixture of the committer unit tests
 * (test_committer.c, test_committer_resync.c): one redis-server per test
 * binary, flushed before each test; a committer over a sink and a feed,
 * its "file" held in memory (lbt_unit.h) so that every offset and count is
 * known exactly; the landing events it reported; and the checks every
 * committer test makes (what the stream holds, where the checkpoint stands,
 * what an event says).
 */
#ifndef FX_COMMITTER_H
#define FX_COMMITTER_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

#include "committer.h"
#include "feed.h"
#include "lbt_unit.h"
#include "sink.h"

/* The one source every committer test reads. */
#define FXC_SRC "/var/log/app.log"
#define FXC_DEV 7ULL
#define FXC_INO 9ULL
#define FXC_MAX_EVENTS 64

struct fxc {
    struct lb_redis *r;
    struct lb_sink *k;
    struct lb_feed *f;
    struct lb_committer *cm;
    struct lb_sink_opts so;
    struct lbt_text t;
    struct lb_commit_event ev[FXC_MAX_EVENTS]; /* the landing events, in order */
    int nev;
    struct lb_error err;
};

/* The test's own connection to the binary's server: never killed. */
extern redisContext *fxc_adm;

/* cmocka group setup/teardown: one redis-server for the whole binary. */
int fxc_group_setup(void **state);
int fxc_group_teardown(void **state);
/* Before each test: memory limit off, clients unpaused, FLUSHALL. */
int fxc_setup(void **state);

/* A committer writing to `stream` in batches of `batch` lines, `flights`
 * batches in flight; with_redis = 0 gives it no connection (dry run). */
struct fxc *fxc_new(const char *stream, size_t batch, int flights, int with_redis);
void fxc_free(struct fxc *x);
/* Begin the source at line `at` (0: the start), with the checkpoint that
 * Redis holds now. */
void fxc_begin_at(struct fxc *x, size_t at, int rereadable);
/* Hand lines [from, to] (1-based) to the committer; the first error, or 0. */
int fxc_feed(struct fxc *x, size_t from, size_t to);
const char *fxc_ckkey(const struct fxc *x);

/* The stream holds exactly the lines listed (by their offsets), in order. */
void fxc_stream_is(const struct fxc *x, const char *key, const size_t *lines, size_t n);
/* Lines 1..n in order, once each. */
void fxc_stream_has_lines(const struct fxc *x, const char *key, size_t n);
/* The checkpoint in Redis stands at the end of line `line`. */
void fxc_ckpt_at(const struct fxc *x, size_t line);
void fxc_ckpt_absent(const struct fxc *x);
/* A landing event: the batch of lines (from, to], counts as given. */
void fxc_ev_is(const struct fxc *x, int i, size_t from, size_t to, uint64_t written);

/* The ID of the last entry of key (a static buffer). */
const char *fxc_last_id(const char *key);
/* EXISTS key (-1 on error). */
long long fxc_exists(const char *key);

/* lbt_wait_for conditions: the checkpoint in Redis reached line `line`;
 * only the test's own connection is left (ctx unused). */
struct fxc_ck_wait {
    const struct fxc *x;
    uint64_t line;
};
int fxc_ckpt_reached(void *ctx);
int fxc_only_admin_connected(void *ctx);

#endif
