/*
 * redis.h - one Redis connection: URL, connect (TCP, unix, TLS, through
 * Sentinels), AUTH, SELECT, reconnect, and the one way commands and replies
 * go over it.
 *
 * hiredis builds commands and parses replies: commands are appended to the
 * context's output buffer (redisAppend*, lb_redis_ctx) and sent by
 * lb_redis_flush; replies are parsed from its reader. The bytes go through
 * conn.c, never through hiredis's own I/O (DESIGN.md section 7). Any I/O
 * error drops the connection; the next lb_redis_connect (or
 * lb_redis_connect_retry, with capped exponential backoff) makes a new one,
 * asking the Sentinels again.
 */
#ifndef LB_REDIS_H
#define LB_REDIS_H

#include <stdatomic.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

#include "conn.h"
#include "error.h"

#define LB_REDIS_MAX_HOSTS 16

enum { LB_CLUSTER_AUTO = 0, LB_CLUSTER_YES, LB_CLUSTER_NO };

struct lb_redis_host {
    char host[256];
    int port;
};

struct lb_redis_cfg {
    int is_unix;
    char path[1024];
    /* TCP: the hosts to try in turn, or the Sentinels to ask */
    struct lb_redis_host hosts[LB_REDIS_MAX_HOSTS];
    int nhosts;
    int db;
    char user[128];
    char pass[256];
    int pass_in_url; /* a password on the command line is visible in ps */
    char addr[1100]; /* "host:port" or "unix:/path" for messages (no password) */
    struct lb_tls_cfg tls;
    int sentinel;     /* hosts are Sentinels that name the master */
    char master[128]; /* its name */
    char sentinel_user[128];
    char sentinel_pass[256];
    int cluster;         /* --cluster: LB_CLUSTER_AUTO, _YES or _NO */
    int wait_replicas;   /* WAIT N after each batch (0: no WAIT) */
    int wait_timeout_ms; /* its timeout */
};

/* Parse every URL form of DESIGN.md section 7 (redis_url.c):
 * redis://[user[:password]@]host[:port][,host[:port]...][/db], rediss://...,
 * unix:///path[?db=N&user=NAME], redis+sentinel://[user@]s1,s2/MASTER[/db]
 * and rediss+sentinel://. LOGBRIDGE_REDIS_PASSWORD fills the password when
 * the URL has none (LOGBRIDGE_SENTINEL_PASSWORD the Sentinels'). LB_EUSAGE
 * for a bad form, and for a user without a password (never a silent login
 * as default). */
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

/* Set the read and write timeout of the connection (ms; kept across
 * reconnects). */
void lb_redis_set_timeout(struct lb_redis *r, int ms);

/* The stream (or template) the job works on: on a cluster, its slot's
 * master is the node connected to, and a stream whose keys would not share
 * one slot makes the connect fail with LB_EUSAGE (DESIGN.md section 7).
 * Call before the first connect. */
void lb_redis_set_route(struct lb_redis *r, const char *stream);

/* Follow a cluster's ASK (DESIGN.md section 7): the connection moves to the
 * migration's target and sends ASKING before every flush until the next
 * reconnect. Only for a job every command of which names the keys of its
 * own batches (tail, import): an ASK means they have all left the source,
 * and a command naming a key still there is refused by the target
 * (TRYAGAIN) rather than answered wrongly. Readers (mirror, export...) wait
 * an ASK out instead. */
void lb_redis_allow_ask(struct lb_redis *r);

/* reply.c read a reply of its own (the count that places ASKING's). */
void lb_redis_count_reply(struct lb_redis *r);

/* 1 when connected to a Redis Cluster. */
int lb_redis_is_cluster(const struct lb_redis *r);

/* MOVED (ask == 0) or ASK (ask != 0) redirects seen so far. */
unsigned long lb_redis_redirects(const struct lb_redis *r, int ask);

/* --wait-replicas N (0: none) and *timeout_ms its --wait-timeout. */
int lb_redis_wait_replicas(const struct lb_redis *r, int *timeout_ms);

/* The socket, for epoll (-1 when not connected). */
int lb_redis_fd(const struct lb_redis *r);

/* Send what was appended to the context's output buffer, all of it.
 * 0, or LB_EREDIS (the connection is dropped). */
int lb_redis_flush(struct lb_redis *r, struct lb_error *err);

/* Read up to n bytes of replies into buf, waiting up to the timeout:
 * > 0, or a negative code (the connection is dropped). For reply.c, which
 * reads straight into the reader's buffer. */
long lb_redis_read_into(struct lb_redis *r, char *buf, size_t n, struct lb_error *err);

/* The socket is readable while no reply is awaited: read what came (TLS
 * records such as session tickets are normal). 0 when the connection is
 * fine, LB_EREDIS when the server closed it or sent something unasked (the
 * connection is dropped). */
int lb_redis_check_idle(struct lb_redis *r, struct lb_error *err);

/* An error reply was seen (redis.c and reply.c call this for every one):
 * through Sentinels, READONLY and MASTERDOWN mean the master moved; on a
 * cluster, MOVED names the slot's new master. Either way the connection is
 * dropped before the next command is sent, and the next connect goes where
 * the reply said (DESIGN.md section 7). Other refusals change nothing. */
void lb_redis_refused(struct lb_redis *r, const char *msg);

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
 * LOADING, READONLY, MASTERDOWN, NOREPLICAS, TRYAGAIN, CLUSTERDOWN, a
 * cluster's MOVED or ASK, or an EXECABORT caused by one): back off and try
 * again (after a MOVED, on the node it names), never exit for it. */
int lb_redis_is_transient(const char *msg);

/* Sleep for the backoff delay of attempt n (0-based). Returns early
 * (LB_ESTOP) when *stop is set. */
int lb_redis_backoff_sleep(const struct lb_redis *r, unsigned attempt, atomic_int *stop);

/* The backoff delay of attempt n (for a loop that waits on a timer instead
 * of sleeping): 100 ms * 2^n, at most 5 s; on a cluster 50 ms * 2^n, at
 * most 1 s (DESIGN.md section 7). r may be NULL. */
long lb_redis_backoff_ms(const struct lb_redis *r, unsigned attempt);

#endif
