/*
 * redis.h - one Redis connection: URL, connect, AUTH, SELECT, reconnect.
 *
 * The context is owned by struct lb_redis. A NULL reply or c->err means the
 * context is dead: lb_redis_cmd frees it, and the next lb_redis_connect
 * (or lb_redis_connect_retry, with capped exponential backoff) makes a new one.
 */
#ifndef LB_REDIS_H
#define LB_REDIS_H

#include <stdatomic.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

#include "error.h"

struct lb_redis_cfg {
    int is_unix;
    char host[256];
    int port;
    char path[1024];
    int db;
    char user[128];
    char pass[256];
    int pass_in_url; /* a password on the command line is visible in ps */
    char addr[1100]; /* "host:port" or "unix:/path" for messages (no password) */
};

/* Parse redis://[user[:password]@]host[:port][/db] or
 * unix:///path[?db=N&user=NAME]. LOGBRIDGE_REDIS_PASSWORD fills the password
 * when the URL has none. LB_EUSAGE for a bad form, and for a user without a
 * password (DESIGN.md section 7: never a silent login as default). */
int lb_redis_url_parse(const char *url, struct lb_redis_cfg *cfg, struct lb_error *err);

struct lb_redis;

/* Copies cfg. Returns NULL on out of memory. Free with lb_redis_destroy. */
struct lb_redis *lb_redis_create(const struct lb_redis_cfg *cfg);
void lb_redis_destroy(struct lb_redis *r);

/* One attempt. LB_EREDIS: unreachable or lost (retry); LB_EAUTH: refused
 * password (never retry); LB_EREPLY: e.g. SELECT refused. */
int lb_redis_connect(struct lb_redis *r, struct lb_error *err);

/* Connect, retrying LB_EREDIS with backoff 100 ms doubling to 5 s, until it
 * works, *stop becomes non-zero (LB_ESTOP), or give_up_sec (< 0 = never)
 * seconds have passed since the first failure (LB_ETIMEOUT). Logs once when
 * the server becomes unreachable and once when it is back. */
int lb_redis_connect_retry(struct lb_redis *r, double give_up_sec, atomic_int *stop,
                           struct lb_error *err);

/* The live context, or NULL when not connected. */
redisContext *lb_redis_ctx(struct lb_redis *r);
const char *lb_redis_addr(const struct lb_redis *r);
unsigned long lb_redis_reconnects(const struct lb_redis *r);

/* Drop the connection (after an I/O error or a timeout). */
void lb_redis_drop(struct lb_redis *r);

/* Set the read timeout of the live context (ms). */
void lb_redis_set_timeout(struct lb_redis *r, int ms);

/* Run one command. Returns the reply (caller frees with freeReplyObject), or
 * NULL with err set: LB_EREDIS when the connection died (it is dropped).
 * An error reply is returned as a reply; see lb_redis_reply_ok. */
redisReply *lb_redis_cmd(struct lb_redis *r, int argc, const char **argv, const size_t *lens,
                         struct lb_error *err);

/* Printf-style convenience for commands without binary data. */
redisReply *lb_redis_cmdf(struct lb_redis *r, struct lb_error *err, const char *fmt, ...);

/* The next reply of a pipelined command if it can be had without waiting:
 * 1 with *out set, 0 when it has not (all) arrived yet, or LB_EREDIS (the
 * connection is dropped). */
int lb_redis_try_reply(struct lb_redis *r, redisReply **out, struct lb_error *err);

/* Read the next reply of a pipelined command (after redisAppend*). */
redisReply *lb_redis_get_reply(struct lb_redis *r, struct lb_error *err);

/* 1 when the error reply is a refused password. */
int lb_redis_is_auth_error(const char *msg);

/* 1 when the error reply is a refusal that clears by itself (OOM, BUSY,
 * LOADING, READONLY, MASTERDOWN, NOREPLICAS, TRYAGAIN, CLUSTERDOWN, or an
 * EXECABORT caused by one): back off and try again, never exit for it. */
int lb_redis_is_transient(const char *msg);

/* Sleep for the backoff delay of attempt n (0-based): 100 ms * 2^n, <= 5 s.
 * Returns early (LB_ESTOP) when *stop is set. */
int lb_redis_backoff_sleep(unsigned attempt, atomic_int *stop);

/* The backoff delay of attempt n: 100 ms * 2^n, at most 5 s (for a loop
 * that waits on a timer instead of sleeping). */
long lb_redis_backoff_ms(unsigned attempt);

#endif
