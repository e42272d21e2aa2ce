/*
 * fx_mirror.h - the fixture of the `logbridge mirror` tests: a redis-server
 * of its own per test, a temp dir with the mirror's file and its output, the
 * stream and its checkpoint key, the IDs of the entries a test added, the
 * mirror and a writer child (both killed by the teardown if a test failed
 * first); and the helpers the mirror tests share (prefix mu_): entries of
 * lbtest's standard lines in both encodings, the lines expected back,
 * running mirror, its checkpoint and metrics, waits with a deadline.
 *
 * Expected lines are built from DESIGN.md's rules (section 5 mirror), never
 * by calling logbridge's own formatting code.
 */
#ifndef FX_MIRROR_H
#define FX_MIRROR_H

#include <stddef.h>
#include <sys/types.h>
#include <hiredis/hiredis.h>
#include <cjson/cJSON.h>

#include "lbtest.h"

#define FX_MIRROR_WAIT_MS 20000

struct fx_mirror {
    struct lbt_redis r;
    redisContext *c;
    char dir[256];
    char file[400];  /* dir/<name>: the mirror's file */
    char log[400];   /* dir/mirror.out: a spawned mirror's output */
    char stream[64]; /* the stream mirrored */
    char key[128];   /* its checkpoint hash, logbridge:mirror:{stream} */
    char **ids;      /* IDs kept with mu_keep_id, in stream order */
    long nids, capids;
    pid_t pid;    /* a spawned mirror */
    pid_t writer; /* a writer child */
};

/* cmocka setups: stream app:events, file app.log; without / with AOF. */
int fx_mirror_setup(void **state);
int fx_mirror_setup_aof(void **state);
int fx_mirror_setup_named(void **state, int aof, const char *stream, const char *file);
/* The same inside a larger struct of size bytes (struct fx_mirror first; the
 * teardown frees it through its first member). */
int fx_mirror_setup_sized(void **state, size_t size, int aof, const char *stream, const char *file);
int fx_mirror_teardown(void **state);

/* Append id to f->ids. */
void mu_keep_id(struct fx_mirror *f, const char *id);

/* XADD with (name, value) pairs; id NULL = "*". The new ID in out (may be
 * NULL). */
void mu_xadd(redisContext *c, const char *stream, const char *id, char *out, size_t cap, int npairs,
             const char *const *names, const char *const *values);
/* A standard line split at its first three '|' (DATA without its newline). */
void mu_split_line(const char *line, char parts[4][256]);
/* Add entries [from, from+n) of the standard lines (pipelined) with src and
 * off = i*100, in the json encoding when json, else as fields. */
void mu_add_std(redisContext *c, const char *stream, long from, long n, const char *src, int json);
/* The expected bytes of standard lines [from, from+n) (malloc'ed). */
char *mu_std_lines(long from, long n, size_t *len);
/* Fail, naming the first difference, unless the file holds exactly want. */
void mu_assert_file_equals(const char *path, const char *want, size_t wn);

/* Run `logbridge mirror --redis URL ARGS...` (NULL-terminated) to its end. */
int mu_run(struct fx_mirror *f, char *err, size_t errcap, ...);
/* Spawn it (output in f->log); f->pid. */
pid_t mu_spawn(struct fx_mirror *f, ...);
/* Wait for the spawned mirror (after a signal): its exit code. */
int mu_reap(struct fx_mirror *f, pid_t p);

/* The checkpoint JSON of file (f->file when NULL), parsed; NULL if absent. */
cJSON *mu_ckpt(struct fx_mirror *f, const char *file);
/* The checkpoint of f->file has id want_id and the file's size, dev, ino. */
void mu_assert_ckpt(struct fx_mirror *f, const char *want_id);
/* The ID of the stream's last entry. */
void mu_last_id(struct fx_mirror *f, char *out, size_t cap);
/* Wait until path has at least size bytes (fails after FX_MIRROR_WAIT_MS). */
void mu_wait_size(const char *path, size_t size);

/* lbt_wait_for conditions: the checkpoint's id is want; it exists (ctx: f). */
struct mu_ck_wait {
    struct fx_mirror *f;
    char want[64];
};
int mu_ckpt_is(void *ctx);
/* ... the checkpoint's id is want or a later one (IDs of one stream). */
int mu_ckpt_past(void *ctx);
/* ... and the file path has at least size bytes (ctx: struct mu_file_wait). */
struct mu_file_wait {
    const char *path;
    size_t size;
};
int mu_file_has_size(void *ctx);
int mu_ckpt_exists(void *ctx);

/* A legacy app that appends to the mirror file too: lines MU_LEGACY_PREFIX
 * "<n>", one write(2) each (as a line-buffered app does), in a child
 * (f->writer) until mu_legacy_stop, which returns how many it wrote. *rd:
 * the pipe it reports on. */
#define MU_LEGACY_PREFIX "web|2025-06-18T08:00:00.000Z|legacy|w-"
void mu_legacy_start(struct fx_mirror *f, int *rd);
long mu_legacy_stop(struct fx_mirror *f, int rd);
/* Fail unless path holds exactly the lines own[0..on) in order and the
 * legacy writer's lines 0..wrote-1 in order, interleaved, nothing else but
 * torn lines: the start of our next line, cut by a kill -9 in the middle of
 * a write(2), with a legacy line appended right after it while mirror was
 * down (that line of ours must then come again whole; docs/REFERENCE.md,
 * "Not promised"). Returns how many torn lines it found: at most one per
 * kill of mirror. */
long mu_assert_own_and_legacy(const char *path, const char *own, size_t on, long wrote);

/* A sample of the metrics file: name, then up to two label (name, value)
 * pairs, NULL-terminated. Fails when absent. */
double mu_metric(const char *path, const char *name, ...);

#endif
