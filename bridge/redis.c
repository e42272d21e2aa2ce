/*
 * redis.c - connect (TCP, unix socket, TLS, through Sentinels), AUTH and
 * SELECT, reconnect with backoff, and every command and reply of every job.
 *
 * hiredis (Debian ships 0.14) builds commands into the context's output
 * buffer and parses replies from its reader; the bytes go through conn.c
 * (DESIGN.md section 7: hiredis 0.14 has no TLS). The context is made with
 * redisConnectFd(-1), so hiredis never touches the socket: conn.c owns it.
 * We own the policy: timeouts, what counts as retryable (connection errors)
 * versus final (a refused password or certificate), and logging each state
 * change once rather than per attempt.
 */
#include "redis.h"
#include "clock.h"
#include "cluster.h"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <hiredis/sds.h>

#define LB_REDIS_CONNECT_MS 2000
#define LB_REDIS_READ_MS 30000
#define LB_REDIS_RBUF (64 * 1024)

struct lb_redis {
    struct lb_redis_cfg cfg;
    redisContext *c; /* command builder and reply reader; NULL when not connected */
    struct lb_conn conn;
    struct lb_tls *tls; /* made at the first connect over TLS */
    int timeout_ms;
    int moved;      /* READONLY/MASTERDOWN through Sentinels, or MOVED: reconnect first */
    char moved_why[400];
    int next;       /* the host (or Sentinel) to try first */
    char addr[1100]; /* where we are connected (the master's, through Sentinels) */
    struct lb_redis_host at; /* the node connected to (host "" for a unix socket) */
    /* Cluster (DESIGN.md section 7): detected once, then the job's slot
     * routes every connect to its master */
    int is_cluster;   /* -1 not known yet */
    int slot;         /* -1: no route */
    char route_err[400];
    struct lb_redis_host node, redirect; /* the slot's master; where MOVED said */
    int has_node, has_redirect;
    unsigned long moved_n, ask_n;
    /* ASK (lb_redis_allow_ask): connected to the node a migration moves
     * the keys to, every flush goes after an ASKING, whose +OK is not the
     * caller's: the ring holds the reply index of each one to drop */
    int ask_allowed, has_ask, asking;
    struct lb_redis_host ask_to;
    unsigned long cmds_sent, replies_taken;
    unsigned long skip[16];
    unsigned skip_head, skip_n;
    char *rbuf;     /* LB_REDIS_RBUF bytes for reads fed to the reader */
    unsigned long reconnects;
    int ever_connected;
};

/* ---- life ------------------------------------------------------------------ */

struct lb_redis *lb_redis_create(const struct lb_redis_cfg *cfg)
{
    struct lb_redis *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->rbuf = malloc(LB_REDIS_RBUF);
    if (r->rbuf == NULL) {
        free(r);
        return NULL;
    }
    r->cfg = *cfg;
    r->conn.fd = -1;
    r->timeout_ms = LB_REDIS_READ_MS;
    r->is_cluster = cfg->cluster == LB_CLUSTER_YES ? 1 : cfg->cluster == LB_CLUSTER_NO ? 0 : -1;
    r->slot = -1;
    snprintf(r->addr, sizeof(r->addr), "%s", cfg->addr);
    return r;
}

void lb_redis_drop(struct lb_redis *r)
{
    if (r == NULL)
        return;
    if (r->c != NULL) {
        redisFree(r->c); /* its fd is -1: the socket is conn's */
        r->c = NULL;
    }
    lb_conn_close(&r->conn);
}

void lb_redis_destroy(struct lb_redis *r)
{
    if (r == NULL)
        return;
    lb_redis_drop(r);
    lb_tls_destroy(r->tls);
    memset(r->cfg.pass, 0, sizeof(r->cfg.pass));
    memset(r->cfg.sentinel_pass, 0, sizeof(r->cfg.sentinel_pass));
    free(r->rbuf);
    free(r);
}

redisContext *lb_redis_ctx(struct lb_redis *r)
{
    return r->c;
}

const char *lb_redis_addr(const struct lb_redis *r)
{
    return r->addr;
}

unsigned long lb_redis_reconnects(const struct lb_redis *r)
{
    return r->reconnects;
}

void lb_redis_set_route(struct lb_redis *r, const char *stream)
{
    unsigned slot;
    r->route_err[0] = '\0';
    if (lb_cluster_stream_slot(stream, &slot, r->route_err, sizeof(r->route_err)) == 0)
        r->slot = (int)slot;
}

int lb_redis_is_cluster(const struct lb_redis *r)
{
    return r->is_cluster == 1;
}

unsigned long lb_redis_redirects(const struct lb_redis *r, int ask)
{
    return ask ? r->ask_n : r->moved_n;
}

int lb_redis_wait_replicas(const struct lb_redis *r, int *timeout_ms)
{
    *timeout_ms = r->cfg.wait_timeout_ms;
    return r->cfg.wait_replicas;
}

int lb_redis_fd(const struct lb_redis *r)
{
    return r->c != NULL ? r->conn.fd : -1;
}

void lb_redis_set_timeout(struct lb_redis *r, int ms)
{
    r->timeout_ms = ms;
}

/* ---- what a reply means ---------------------------------------------------------- */

int lb_redis_is_auth_error(const char *msg)
{
    return strncmp(msg, "WRONGPASS", 9) == 0 || strncmp(msg, "NOAUTH", 6) == 0 ||
           strstr(msg, "invalid password") != NULL || strstr(msg, "invalid username") != NULL;
}

/* The refusals that clear by themselves (DESIGN.md 4.5 and section 7): a
 * server loading or busy, a replica or a master without its replicas, a
 * cluster moving or electing, memory full until something is freed. Waited
 * out with backoff, never a reason to exit. The one list of them. */
int lb_redis_is_transient(const char *msg)
{
    static const char *const codes[] = {"OOM ",       "BUSY ",        "LOADING ",
                                        "READONLY ",  "MASTERDOWN ",  "NOREPLICAS ",
                                        "TRYAGAIN ",  "CLUSTERDOWN ", "MOVED ",
                                        "ASK "};
    /* an EXECABORT names the refusal of the command that caused it */
    const char *why = strstr(msg, "because of: ");
    const char *m[2] = {msg, why != NULL ? why + 12 : NULL};
    for (int k = 0; k < 2 && m[k] != NULL; k++)
        for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
            size_t n = strlen(codes[i]); /* the code, then a space or the end */
            if (strncmp(m[k], codes[i], n - 1) == 0 && (m[k][n - 1] == ' ' || m[k][n - 1] == '\0'))
                return 1;
        }
    return 0;
}


void lb_redis_refused(struct lb_redis *r, const char *msg)
{
    if (msg == NULL || r->moved)
        return; /* said once per reply episode: a batch's every command may say it */
    const char *why = strstr(msg, "because of: ");
    const char *m = why != NULL ? why + 12 : msg;
    struct lb_redis_host to;
    int kind = lb_cluster_redirect(m, r->at.host, &to);
    if (kind == 1) {
        r->moved_n++;
        r->redirect = to;
        r->has_redirect = 1;
        r->moved = 1;
        snprintf(r->moved_why, sizeof(r->moved_why), "the slot moved to %s:%d (MOVED)", to.host,
                 to.port);
    } else if (kind == 2) {
        r->ask_n++;
        if (r->ask_allowed && !r->asking) {
            /* every key the refused command named has left this node */
            r->ask_to = to;
            r->has_ask = 1;
            r->moved = 1;
            snprintf(r->moved_why, sizeof(r->moved_why),
                     "the slot's keys are moving to %s:%d (ASK): going there with ASKING",
                     to.host, to.port);
        }
    } else if (r->cfg.sentinel &&
               (strncmp(m, "READONLY", 8) == 0 || strncmp(m, "MASTERDOWN", 10) == 0)) {
        r->moved = 1;
        snprintf(r->moved_why, sizeof(r->moved_why),
                 "is no longer the master; asking the Sentinels again");
    }
}

/* ---- bytes ---------------------------------------------------------------------- */

/* The connection is done for (err already says why): drop it. */
static int lb_redis_fail(struct lb_redis *r, int code)
{
    lb_redis_drop(r);
    return code;
}

static int lb_redis_not_connected(struct lb_redis *r, struct lb_error *err)
{
    return lb_error_set(err, LB_EREDIS, "redis at %s: not connected", r->addr);
}

/* The commands in a buffer of RESP arrays of bulk strings (what hiredis
 * appends): each "*N\r\n" then N "$len\r\n...\r\n". */
static unsigned long lb_redis_count_cmds(const char *p, size_t n)
{
    unsigned long cmds = 0;
    const char *end = p + n;
    while (p < end && *p == '*') {
        long args = strtol(p + 1, NULL, 10);
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            break;
        p = nl + 1;
        for (long a = 0; a < args && p < end && *p == '$'; a++) {
            long len = strtol(p + 1, NULL, 10);
            nl = memchr(p, '\n', (size_t)(end - p));
            if (nl == NULL || len < 0)
                return cmds + 1;
            p = nl + 1 + len + 2;
        }
        cmds++;
    }
    return cmds;
}

void lb_redis_allow_ask(struct lb_redis *r)
{
    r->ask_allowed = 1;
}

void lb_redis_count_reply(struct lb_redis *r)
{
    r->replies_taken++;
}

int lb_redis_flush(struct lb_redis *r, struct lb_error *err)
{
    if (r->c == NULL)
        return lb_redis_not_connected(r, err);
    if (r->moved) {
        int code = lb_error_set(err, LB_EREDIS, "redis at %s: %s", r->addr, r->moved_why);
        r->moved = 0;
        return lb_redis_fail(r, code);
    }
    size_t n = sdslen(r->c->obuf);
    if (n == 0)
        return 0;
    unsigned long cmds = lb_redis_count_cmds(r->c->obuf, n);
    int rc = 0;
    if (r->asking) {
        static const char asking[] = "*1\r\n$6\r\nASKING\r\n";
        if (r->skip_n == sizeof(r->skip) / sizeof(r->skip[0]))
            return lb_redis_fail(r, lb_error_set(err, LB_EREDIS, "redis at %s: too many "
                                                               "commands in flight after ASK",
                                                 r->addr));
        r->skip[(r->skip_head + r->skip_n++) % 16] = r->cmds_sent++;
        rc = lb_conn_write(&r->conn, asking, sizeof(asking) - 1, r->timeout_ms, err);
    }
    if (rc == 0)
        rc = lb_conn_write(&r->conn, r->c->obuf, n, r->timeout_ms, err);
    if (rc != 0)
        return lb_redis_fail(r, rc);
    r->cmds_sent += cmds;
    sdsclear(r->c->obuf);
    return 0;
}

long lb_redis_read_into(struct lb_redis *r, char *buf, size_t n, struct lb_error *err)
{
    if (r->c == NULL)
        return lb_redis_not_connected(r, err);
    ssize_t got = lb_conn_read(&r->conn, buf, n, r->timeout_ms, err);
    if (got <= 0)
        return lb_redis_fail(r, got < 0 ? (int)got : LB_EREDIS);
    return (long)got;
}

/* Feed what the socket has (waiting up to wait_ms) to the reader: > 0 bytes,
 * 0 nothing came (wait_ms == 0), < 0 an error (the connection is dropped). */
static long lb_redis_feed(struct lb_redis *r, int wait_ms, struct lb_error *err)
{
    ssize_t got = lb_conn_read(&r->conn, r->rbuf, LB_REDIS_RBUF, wait_ms, err);
    if (got < 0)
        return lb_redis_fail(r, (int)got);
    if (got > 0 && redisReaderFeed(r->c->reader, r->rbuf, (size_t)got) != REDIS_OK)
        return lb_redis_fail(r, lb_error_set(err, LB_ENOMEM, "out of memory"));
    return (long)got;
}

/* The next reply already in the reader: 1 (*out set), 0 none yet, < 0. */
static int lb_redis_take(struct lb_redis *r, redisReply **out, struct lb_error *err)
{
    void *rep = NULL;
again:
    rep = NULL;
    if (redisGetReplyFromReader(r->c, &rep) != REDIS_OK) {
        /* hiredis reports a failed allocation while building a reply as
         * REDIS_ERR_OOM: our memory, not the connection */
        int code = r->c->err == REDIS_ERR_OOM ? LB_ENOMEM : LB_EREDIS;
        lb_error_set(err, code, "redis at %s: %s", r->addr,
                     code == LB_ENOMEM ? "out of memory while reading a reply" : r->c->errstr);
        return lb_redis_fail(r, code);
    }
    if (rep != NULL && r->skip_n > 0 && r->skip[r->skip_head] == r->replies_taken) {
        /* ASKING's reply: not the caller's */
        int ok = ((redisReply *)rep)->type == REDIS_REPLY_STATUS;
        freeReplyObject(rep);
        r->replies_taken++;
        r->skip_head = (r->skip_head + 1) % 16;
        r->skip_n--;
        if (!ok)
            return lb_redis_fail(r, lb_error_set(err, LB_EREDIS, "redis at %s refused ASKING",
                                                 r->addr));
        goto again;
    }
    if (rep != NULL)
        r->replies_taken++;
    if (rep != NULL && ((redisReply *)rep)->type == REDIS_REPLY_ERROR)
        lb_redis_refused(r, ((redisReply *)rep)->str);
    *out = rep;
    return rep != NULL;
}

redisReply *lb_redis_get_reply(struct lb_redis *r, struct lb_error *err)
{
    if (r->c == NULL) {
        lb_redis_not_connected(r, err);
        return NULL;
    }
    if (lb_redis_flush(r, err) != 0)
        return NULL;
    for (;;) {
        redisReply *rep = NULL;
        int got = lb_redis_take(r, &rep, err);
        if (got != 0)
            return got > 0 ? rep : NULL;
        long n = lb_redis_feed(r, r->timeout_ms, err);
        if (n < 0)
            return NULL;
        if (n == 0) { /* cannot happen with a timeout > 0: conn.c says it timed out */
            lb_error_set(err, LB_EREDIS, "redis at %s: no reply", r->addr);
            lb_redis_fail(r, LB_EREDIS);
            return NULL;
        }
    }
}

int lb_redis_try_reply(struct lb_redis *r, redisReply **out, struct lb_error *err)
{
    *out = NULL;
    if (r->c == NULL)
        return lb_redis_not_connected(r, err);
    for (;;) {
        int got = lb_redis_take(r, out, err);
        if (got != 0)
            return got;
        long n = lb_redis_feed(r, 0, err);
        if (n <= 0)
            return (int)n;
    }
}

int lb_redis_check_idle(struct lb_redis *r, struct lb_error *err)
{
    if (r->c == NULL)
        return lb_redis_not_connected(r, err);
    for (;;) {
        long n = lb_redis_feed(r, 0, err);
        if (n < 0)
            return (int)n;
        if (n == 0)
            break;
    }
    redisReply *rep = NULL;
    int got = lb_redis_take(r, &rep, err);
    if (got < 0)
        return got;
    if (got > 0 || r->c->reader->len > r->c->reader->pos) {
        if (rep != NULL)
            freeReplyObject(rep);
        lb_error_set(err, LB_EREDIS, "redis at %s sent a reply nobody asked for", r->addr);
        return lb_redis_fail(r, LB_EREDIS);
    }
    return 0;
}

redisReply *lb_redis_cmd(struct lb_redis *r, int argc, const char **argv, const size_t *lens,
                         struct lb_error *err)
{
    if (r->c == NULL) {
        lb_redis_not_connected(r, err);
        return NULL;
    }
    if (redisAppendCommandArgv(r->c, argc, argv, lens) != REDIS_OK) {
        lb_error_set(err, LB_ENOMEM, "out of memory");
        return NULL;
    }
    return lb_redis_get_reply(r, err);
}

redisReply *lb_redis_cmdf(struct lb_redis *r, struct lb_error *err, const char *fmt, ...)
{
    if (r->c == NULL) {
        lb_redis_not_connected(r, err);
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    int ok = redisvAppendCommand(r->c, fmt, ap);
    va_end(ap);
    if (ok != REDIS_OK) {
        lb_error_set(err, LB_ENOMEM, "out of memory");
        return NULL;
    }
    return lb_redis_get_reply(r, err);
}

/* ---- connect ---------------------------------------------------------------------- */

static const char *lb_redis_who(const struct lb_redis *r)
{
    return r->cfg.user[0] ? r->cfg.user : "default";
}

/* One command during the connect: its reply, or NULL with err set (an error
 * reply is returned as a reply). */
static redisReply *lb_redis_hello_cmd(struct lb_redis *r, int argc, const char **argv,
                                      struct lb_error *err)
{
    return lb_redis_cmd(r, argc, argv, NULL, err);
}

/* AUTH, then SELECT or a PING (which proves the server answers and that no
 * password is needed). */
static int lb_redis_hello(struct lb_redis *r, struct lb_error *err)
{
    if (r->cfg.pass[0] != '\0') {
        const char *argv[3] = {"AUTH", r->cfg.user, r->cfg.pass};
        int argc = r->cfg.user[0] ? 3 : 2;
        if (argc == 2)
            argv[1] = r->cfg.pass;
        redisReply *rep = lb_redis_hello_cmd(r, argc, argv, err);
        if (rep == NULL)
            return err->code;
        int code = 0;
        if (rep->type == REDIS_REPLY_ERROR)
            code = lb_error_set(err, LB_EAUTH, "redis at %s refused the password for user %s: %s",
                                r->addr, lb_redis_who(r), rep->str);
        freeReplyObject(rep);
        if (code != 0)
            return lb_redis_fail(r, code);
    }
    char db[16];
    snprintf(db, sizeof(db), "%d", r->cfg.db);
    const char *sel[2] = {"SELECT", db}, *ping[1] = {"PING"};
    int select = r->cfg.db != 0;
    redisReply *rep = lb_redis_hello_cmd(r, select ? 2 : 1, select ? sel : ping, err);
    if (rep == NULL)
        return err->code;
    int code = 0;
    if (rep->type == REDIS_REPLY_ERROR) {
        code = lb_redis_is_auth_error(rep->str) ? LB_EAUTH : select ? LB_EREPLY : LB_EREDIS;
        lb_error_set(err, code, "redis at %s (user %s): %s%s%s", r->addr, lb_redis_who(r),
                     select ? "SELECT " : "", select ? db : "", rep->str);
    }
    freeReplyObject(rep);
    return code != 0 ? lb_redis_fail(r, code) : 0;
}

/* Open the socket (and TLS) to host:port or the socket path, make the
 * context, log in. */
static int lb_redis_open(struct lb_redis *r, const char *host, int port, struct lb_error *err)
{
    lb_redis_drop(r);
    int rc;
    if (host != NULL)
        snprintf(r->addr, sizeof(r->addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    snprintf(r->at.host, sizeof(r->at.host), "%s", host != NULL ? host : "");
    r->at.port = port;
    r->asking = 0;
    r->cmds_sent = r->replies_taken = 0;
    r->skip_head = r->skip_n = 0;
    rc = lb_conn_open(&r->conn, host, port, host == NULL ? r->cfg.path : NULL, r->addr,
                      LB_REDIS_CONNECT_MS, err);
    if (rc == 0 && r->cfg.tls.on) {
        const char *name = r->cfg.tls.server_name ? r->cfg.tls.server_name : host;
        rc = lb_conn_tls(&r->conn, r->tls, name, LB_REDIS_CONNECT_MS, err);
    }
    if (rc == 0 && (r->c = redisConnectFd(-1)) == NULL)
        rc = lb_error_set(err, LB_ENOMEM, "out of memory");
    if (rc != 0)
        return lb_redis_fail(r, rc);
    r->moved = 0;
    return lb_redis_hello(r, err);
}

/* Ask one Sentinel where the master is. */
static int lb_redis_ask_sentinel(struct lb_redis *r, const struct lb_redis_host *s,
                                 struct lb_redis_host *master, struct lb_error *err)
{
    struct lb_redis_cfg sc = r->cfg;
    sc.sentinel = 0;
    sc.db = 0;
    snprintf(sc.user, sizeof(sc.user), "%s", r->cfg.sentinel_user);
    snprintf(sc.pass, sizeof(sc.pass), "%s", r->cfg.sentinel_pass);
    struct lb_redis *q = lb_redis_create(&sc);
    if (q == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    q->tls = r->tls; /* borrowed */
    int rc = lb_redis_open(q, s->host, s->port, err);
    redisReply *rep = NULL;
    if (rc == 0) {
        const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", r->cfg.master};
        rep = lb_redis_cmd(q, 3, argv, NULL, err);
        rc = rep == NULL ? err->code : 0;
    }
    long port = 0;
    if (rc == 0 && (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
                    rep->element[0]->type != REDIS_REPLY_STRING ||
                    rep->element[1]->type != REDIS_REPLY_STRING ||
                    (port = strtol(rep->element[1]->str, NULL, 10)) <= 0 || port > 65535 ||
                    rep->element[0]->len >= sizeof(master->host)))
        rc = lb_error_set(err, LB_EREDIS, "Sentinel %s does not know a master named %s%s%s",
                          q->addr, r->cfg.master, rep->type == REDIS_REPLY_ERROR ? ": " : "",
                          rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    if (rc == 0) {
        memcpy(master->host, rep->element[0]->str, rep->element[0]->len + 1);
        master->port = (int)port;
    }
    if (rep != NULL)
        freeReplyObject(rep);
    q->tls = NULL;
    lb_redis_destroy(q);
    /* a Sentinel that refuses our password is final, as a data node's is */
    return rc == LB_EAUTH || rc == LB_ENOMEM || rc == LB_EUSAGE || rc == 0 ? rc : LB_EREDIS;
}

/* The node we reached must be the master: a Sentinel may name a replica
 * for a moment during a failover. An ACL without ROLE cannot tell: then a
 * READONLY later sends us back to the Sentinels. */
static int lb_redis_check_master(struct lb_redis *r, struct lb_error *err)
{
    const char *argv[1] = {"ROLE"};
    redisReply *rep = lb_redis_cmd(r, 1, argv, NULL, err);
    if (rep == NULL)
        return err->code;
    int rc = 0;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
        rep->element[0]->type == REDIS_REPLY_STRING && strcmp(rep->element[0]->str, "master") != 0)
        rc = lb_error_set(err, LB_EREDIS, "redis at %s is a %s, not the master %s yet", r->addr,
                          rep->element[0]->str, r->cfg.master);
    freeReplyObject(rep);
    return rc != 0 ? lb_redis_fail(r, rc) : 0;
}

static int lb_redis_connect_sentinel(struct lb_redis *r, struct lb_error *err)
{
    int rc = LB_EREDIS;
    for (int i = 0; i < r->cfg.nhosts; i++) {
        int k = (r->next + i) % r->cfg.nhosts;
        struct lb_redis_host m;
        rc = lb_redis_ask_sentinel(r, &r->cfg.hosts[k], &m, err);
        if (rc == LB_EREDIS)
            continue;
        if (rc != 0)
            return rc;
        r->next = k; /* ask this one first next time */
        rc = lb_redis_open(r, m.host, m.port, err);
        if (rc == 0)
            rc = lb_redis_check_master(r, err);
        return rc;
    }
    return rc;
}

/* Is it a cluster? Asked once (--cluster auto): INFO's cluster_enabled. An
 * ACL user without INFO cannot tell: taken as a single server (a cluster
 * then answers MOVED, which is followed all the same). */
static void lb_redis_detect(struct lb_redis *r)
{
    struct lb_error ign;
    const char *argv[2] = {"INFO", "cluster"};
    redisReply *rep = lb_redis_cmd(r, 2, argv, NULL, &ign);
    if (rep == NULL)
        return; /* asked again at the next connect */
    r->is_cluster = rep->type == REDIS_REPLY_STRING && strstr(rep->str, "cluster_enabled:1") != NULL;
    if (rep->type == REDIS_REPLY_ERROR)
        lb_debug("redis at %s: INFO cluster: %s (taken as a single server)", r->addr, rep->str);
    freeReplyObject(rep);
}

/* The master of the job's slot, asked of the node we are on. */
static int lb_redis_owner(struct lb_redis *r, struct lb_redis_host *out, struct lb_error *err)
{
    int shards = 1;
    const char *argv[2] = {"CLUSTER", "SHARDS"};
    redisReply *rep = lb_redis_cmd(r, 2, argv, NULL, err);
    if (rep != NULL && rep->type == REDIS_REPLY_ERROR) { /* Redis < 7 */
        freeReplyObject(rep);
        shards = 0;
        argv[1] = "SLOTS";
        rep = lb_redis_cmd(r, 2, argv, NULL, err);
    }
    if (rep == NULL)
        return err->code;
    int rc = 0;
    if (rep->type == REDIS_REPLY_ERROR)
        rc = lb_error_set(err, lb_redis_is_auth_error(rep->str) ? LB_EAUTH : LB_EREDIS,
                          "redis at %s: CLUSTER %s: %s", r->addr, argv[1], rep->str);
    else if (lb_cluster_owner(rep, shards, (unsigned)r->slot, r->at.host, r->cfg.tls.on, out))
        rc = lb_error_set(err, LB_EREDIS, "redis at %s: no master serves slot %d yet", r->addr,
                          r->slot);
    freeReplyObject(rep);
    return rc;
}

/* On a cluster: go to the master of the job's slot. */
static int lb_redis_route(struct lb_redis *r, struct lb_error *err)
{
    if (r->is_cluster < 0)
        lb_redis_detect(r);
    if (r->is_cluster != 1)
        return 0;
    if (r->route_err[0] != '\0')
        return lb_redis_fail(r, lb_error_set(err, LB_EUSAGE, "%s", r->route_err));
    if (r->slot < 0)
        return 0;
    struct lb_redis_host own;
    int rc = lb_redis_owner(r, &own, err);
    if (rc != 0)
        return lb_redis_fail(r, rc);
    if ((strcmp(own.host, r->at.host) != 0 || own.port != r->at.port) &&
        (rc = lb_redis_open(r, own.host, own.port, err)) != 0)
        return rc;
    r->node = own;
    r->has_node = 1;
    return 0;
}

/* A plain server, a seed list or a cluster: where MOVED said, else the
 * slot's master as last known, else the hosts in turn. */
static int lb_redis_connect_nodes(struct lb_redis *r, struct lb_error *err)
{
    int rc = LB_EREDIS;
    if (r->has_ask) {
        /* the migration's target, this job's keys there: no routing (the
         * slot map still names the source until the migration ends) */
        r->has_ask = 0;
        rc = lb_redis_open(r, r->ask_to.host, r->ask_to.port, err);
        if (rc == 0) {
            r->asking = 1;
            return 0;
        }
    }
    if (rc == LB_EREDIS && r->has_redirect) {
        r->has_redirect = 0;
        rc = lb_redis_open(r, r->redirect.host, r->redirect.port, err);
    }
    if (rc == LB_EREDIS && r->has_node)
        rc = lb_redis_open(r, r->node.host, r->node.port, err);
    if (rc == LB_EREDIS && r->cfg.is_unix)
        rc = lb_redis_open(r, NULL, 0, err);
    for (int i = 0; i < r->cfg.nhosts && rc == LB_EREDIS; i++) {
        int k = (r->next + i) % r->cfg.nhosts;
        rc = lb_redis_open(r, r->cfg.hosts[k].host, r->cfg.hosts[k].port, err);
        if (rc == 0)
            r->next = k;
    }
    return rc != 0 ? rc : lb_redis_route(r, err);
}

int lb_redis_connect(struct lb_redis *r, struct lb_error *err)
{
    int rc;
    /* one context for every connection, the Sentinels' included */
    if (r->cfg.tls.on && r->tls == NULL && (rc = lb_tls_create(&r->cfg.tls, &r->tls, err)) != 0)
        return rc;
    rc = r->cfg.sentinel ? lb_redis_connect_sentinel(r, err) : lb_redis_connect_nodes(r, err);
    if (rc != 0)
        return rc;
    if (r->ever_connected)
        r->reconnects++;
    r->ever_connected = 1;
    return 0;
}

long lb_redis_backoff_ms(const struct lb_redis *r, unsigned attempt)
{
    /* a cluster's refusals (a slot moving, a failover) clear within
     * seconds: retried sooner and never more than a second apart */
    int cl = r != NULL && r->is_cluster == 1;
    long ms = cl ? 50 : 100, cap = cl ? 1000 : 5000;
    for (unsigned i = 0; i < attempt && ms < cap; i++)
        ms *= 2;
    return ms > cap ? cap : ms;
}

int lb_redis_backoff_sleep(const struct lb_redis *r, unsigned attempt, atomic_int *stop)
{
    long ms = lb_redis_backoff_ms(r, attempt);
    /* Sleep in slices so that a stop request is noticed quickly. */
    while (ms > 0) {
        if (stop != NULL && atomic_load(stop))
            return LB_ESTOP;
        long slice = ms < 50 ? ms : 50;
        struct timespec ts = {0, slice * 1000000L};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
    return 0;
}

int lb_redis_connect_retry(struct lb_redis *r, double give_up_sec, atomic_int *stop,
                           struct lb_error *err)
{
    double start = 0;
    unsigned attempt = 0;
    for (;;) {
        int rc = lb_redis_connect(r, err);
        if (rc == 0) {
            if (attempt > 0)
                lb_info("redis at %s is reachable again after %u attempts", r->addr,
                        attempt + 1);
            return 0;
        }
        if (rc != LB_EREDIS)
            return rc;
        if (attempt == 0) {
            start = lb_clock_mono();
            lb_warn("%s; retrying with backoff%s", err->msg,
                    give_up_sec >= 0 ? "" : " until it is back");
        }
        if (give_up_sec >= 0 && lb_clock_mono() - start >= give_up_sec) {
            /* err->msg cannot be both the format's argument and its output */
            char why[sizeof(err->msg)];
            const char *m = err->msg, *colon = strstr(m, ": ");
            snprintf(why, sizeof(why), "%s", colon != NULL ? colon + 2 : m);
            return lb_error_set(err, LB_ETIMEOUT, "redis at %s unreachable for %g s: %s",
                                r->addr, give_up_sec, why);
        }
        if (lb_redis_backoff_sleep(r, attempt, stop) == LB_ESTOP)
            return lb_error_set(err, LB_ESTOP, "stopped while waiting for redis");
        attempt++;
    }
}

