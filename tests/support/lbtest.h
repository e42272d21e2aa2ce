/*
 * lbtest.h - support for integration tests: a throwaway redis-server in a
 * temp dir (unix socket, optional AOF), running the logbridge binary, and
 * waiting for conditions with a deadline (never a fixed sleep).
 *
 * Tests find the binary in $LOGBRIDGE_BIN (the Makefile sets it), else
 * build/logbridge.
 */
#ifndef LBTEST_H
#define LBTEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <hiredis/hiredis.h>

struct lbt_redis {
    pid_t pid;
    char dir[256];  /* temp dir, removed by lbt_redis_stop(.., 1) */
    char sock[300]; /* unix socket path */
    char url[320];  /* unix:///.../redis.sock */
    int aof;
    int aof_repairs; /* torn AOFs repaired with redis-check-aof --fix */
    char extra[512]; /* extra redis-server arguments, space separated */
};

/* Start redis-server in a new temp dir (aof: appendonly yes, fsync always).
 * Returns 0, or -1 (the test should fail). */
int lbt_redis_start(struct lbt_redis *r, int aof);
/* Start again in the same dir (e.g. after lbt_redis_kill): AOF is replayed.
 * The server refuses a torn AOF (aof-load-truncated no); this repairs it with
 * redis-check-aof --fix, as contrib/redis-aof.md tells operators, and counts
 * it in aof_repairs. */
int lbt_redis_restart(struct lbt_redis *r);
/* SIGKILL the server (a crash) or SIGTERM it; waits for it to exit. */
void lbt_redis_kill(struct lbt_redis *r, int sig);
/* SAVE: the RDB snapshot that lbt_redis_rollback goes back to. 0 or -1. */
int lbt_redis_save(const struct lbt_redis *r);
/* Lose every write acknowledged since the last lbt_redis_save, as a failover
 * to a lagging replica does (a consistent prefix survives): kill -9 the
 * server and start it again in its dir, where it loads dump.rdb. Only for a
 * server without AOF. Clients must connect again. 0 or -1. */
int lbt_redis_rollback(struct lbt_redis *r);
/* Stop the server and, when cleanup, remove its dir. */
void lbt_redis_stop(struct lbt_redis *r, int cleanup);

/* A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick),
 * for servers that must listen on TCP (replication, Sentinel, TLS). 0 on
 * failure. */
int lbt_free_port(void);

/* A client connection (asserts nothing; NULL on failure). */
redisContext *lbt_connect(const struct lbt_redis *r);

/* Path of the logbridge binary. */
const char *lbt_bin(void);

/* Run logbridge with args (NULL-terminated, without argv[0]); capture stdout
 * and stderr into out/errbuf (may be NULL). Returns the exit code, or -1 on a
 * signal death. stdin_data: fed to its stdin when not NULL. */
int lbt_run(const char *const *args, char *out, size_t outcap, char *errbuf, size_t errcap,
            const char *stdin_data, size_t stdin_len);

/* Spawn logbridge in the background (stdout/stderr to log_path if given).
 * Returns the pid. */
pid_t lbt_spawn(const char *const *args, const char *log_path);
/* The same with stdout and stderr in files of their own (each may be NULL:
 * inherited); both may name the same file. */
pid_t lbt_spawn_split(const char *const *args, const char *out_path, const char *err_path);
/* The same with stdin from a pipe whose write end is *stdin_w (the caller
 * writes and closes it: an input that stays open as long as it likes). */
pid_t lbt_spawn_piped(const char *const *args, const char *log_path, int *stdin_w);
/* Wait for pid; returns its exit code, or 128+signal. */
int lbt_wait(pid_t pid);

/* Monotonic ms. */
int64_t lbt_now_ms(void);
/* Sleep ms (for pacing writers and kill points, never to wait for results). */
void lbt_sleep_ms(int ms);

/* Wait until cond(ctx) != 0 or timeout_ms passes. Returns 1 when it held. */
int lbt_wait_for(int (*cond)(void *), void *ctx, int timeout_ms);
/* An lbt_wait_for condition (ctx: a redisContext of the server): a client
 * of the server is in XREAD (a mirror past its start, following). */
int lbt_xread_client(void *redis_ctx);

/* A temp dir for a test's files (removed by lbt_rmdir). */
int lbt_mkdtemp(char *out, size_t cap);
void lbt_rmdir(const char *dir);

/* Write / append bytes to a file. Returns 0 or -1. */
int lbt_write_file(const char *path, const void *data, size_t n);
int lbt_append_file(const char *path, const void *data, size_t n);
/* Read a whole file (malloc'ed, NUL-terminated; *n = its size). */
char *lbt_read_file(const char *path, size_t *n);
/* Its '\n's (0 when it cannot be read). */
long lbt_count_lines(const char *path);
/* How many times needle occurs in it (0 when it cannot be read). */
int lbt_count_in_file(const char *path, const char *needle);
/* Its size in bytes (-1 when it cannot be stat'ed). */
long long lbt_file_size(const char *path);

/* XLEN of key (-1 on error). */
long long lbt_xlen(redisContext *c, const char *key);

/* One stream entry, fields as (name, value) pairs. */
struct lbt_entry {
    char id[48];
    size_t nf;
    char **names, **values;
    size_t *vlens;
};
/* Every entry of a stream, in order (XRANGE in pages). Free with
 * lbt_entries_free. Returns the count, or -1. */
long lbt_xrange_all(redisContext *c, const char *key, struct lbt_entry **out);
void lbt_entries_free(struct lbt_entry *e, long n);
/* The value of field name in e, or NULL. */
const char *lbt_field(const struct lbt_entry *e, const char *name);

/* The standard test line i: "role<i%3>|<iso ts>|type<i%5>|data-<i> ...". */
size_t lbt_line(char *out, size_t cap, long i);
/* Its role, timestamp, type and data, each NUL-terminated (the fields of
 * its entry). */
void lbt_line_fields(long i, char parts[4][256]);

#endif
