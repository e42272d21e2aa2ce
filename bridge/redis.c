/*
 * redis.c - URL parsing, connect/AUTH/SELECT, and reconnect with backoff.
 *
 * hiredis (Debian ships 0.14) owns the socket; we own the policy: timeouts,
 * what counts as retryable (connection errors) versus final (a refused
 * password), and logging each state change once rather than per attempt.
 */
#include "redis.h"
#include "clock.h"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#define LB_REDIS_CONNECT_MS 2000
#define LB_REDIS_READ_MS 30000

struct lb_redis {
    struct lb_redis_cfg cfg;
    redisContext *c;
    unsigned long reconnects;
    int ever_connected;
};

/* ---- URL ------------------------------------------------------------------ */

static int lb_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) into out (cap bytes, NUL-terminated). */
static int lb_pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int h = lb_hexval(s[i + 1]), l = lb_hexval(s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = h * 16 + l;
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

static int lb_parse_uint(const char *s, size_t n, long max, long *out)
{
    long v = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
        if (v > max)
            return -1;
    }
    *out = v;
    return 0;
}

int lb_redis_url_parse(const char *url, struct lb_redis_cfg *cfg, struct lb_error *err)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->port = 6379;
    long v;

    if (strncmp(url, "unix://", 7) == 0) {
        const char *p = url + 7;
        const char *q = strchr(p, '?');
        size_t plen = q ? (size_t)(q - p) : strlen(p);
        if (plen == 0 || p[0] != '/' || plen >= sizeof(cfg->path))
            return lb_error_set(err, LB_EUSAGE, "expected unix:///path/redis.sock[?db=N]");
        cfg->is_unix = 1;
        memcpy(cfg->path, p, plen);
        /* ?db=N&user=NAME: each optional, in any order, each at most once */
        int have_db = 0, have_user = 0;
        for (const char *k = q; k != NULL;) {
            k++; /* past '?' or '&' */
            const char *amp = strchr(k, '&');
            size_t n = amp ? (size_t)(amp - k) : strlen(k);
            if (n > 3 && strncmp(k, "db=", 3) == 0 && !have_db &&
                lb_parse_uint(k + 3, n - 3, 1 << 20, &v) == 0) {
                cfg->db = (int)v;
                have_db = 1;
            } else if (n > 5 && strncmp(k, "user=", 5) == 0 && !have_user &&
                       lb_pct_decode(k + 5, n - 5, cfg->user, sizeof(cfg->user)) == 0) {
                have_user = 1;
            } else {
                return lb_error_set(err, LB_EUSAGE,
                                    "expected ?db=N&user=NAME (each optional, once) after the "
                                    "socket path");
            }
            k = amp;
        }
        snprintf(cfg->addr, sizeof(cfg->addr), "unix:%s", cfg->path);
    } else if (strncmp(url, "redis://", 8) == 0) {
        const char *p = url + 8;
        const char *end = p + strlen(p);
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *hostend = slash ? slash : end;
        const char *at = NULL;
        for (const char *x = p; x < hostend; x++)
            if (*x == '@')
                at = x; /* the last '@': a password may contain '@' when encoded */
        if (at != NULL) {
            const char *colon = memchr(p, ':', (size_t)(at - p));
            size_t ulen = colon ? (size_t)(colon - p) : (size_t)(at - p);
            if (lb_pct_decode(p, ulen, cfg->user, sizeof(cfg->user)))
                return lb_error_set(err, LB_EUSAGE, "bad user name in URL");
            if (colon != NULL) {
                if (lb_pct_decode(colon + 1, (size_t)(at - colon - 1), cfg->pass,
                                  sizeof(cfg->pass)))
                    return lb_error_set(err, LB_EUSAGE, "bad password in URL");
                cfg->pass_in_url = cfg->pass[0] != '\0';
            }
            p = at + 1;
        }
        const char *hs = p, *he;
        const char *portp = NULL;
        if (*p == '[') {
            const char *rb = memchr(p, ']', (size_t)(hostend - p));
            if (rb == NULL)
                return lb_error_set(err, LB_EUSAGE, "unterminated [ in host");
            hs = p + 1;
            he = rb;
            if (rb + 1 < hostend) {
                if (rb[1] != ':')
                    return lb_error_set(err, LB_EUSAGE, "expected :port after ]");
                portp = rb + 2;
            }
        } else {
            const char *colon = memchr(p, ':', (size_t)(hostend - p));
            he = colon ? colon : hostend;
            if (colon)
                portp = colon + 1;
        }
        if (he == hs)
            return lb_error_set(err, LB_EUSAGE, "no host in URL");
        if ((size_t)(he - hs) >= sizeof(cfg->host))
            return lb_error_set(err, LB_EUSAGE, "host name too long");
        memcpy(cfg->host, hs, (size_t)(he - hs));
        if (portp != NULL) {
            if (lb_parse_uint(portp, (size_t)(hostend - portp), 65535, &v) || v == 0)
                return lb_error_set(err, LB_EUSAGE, "bad port in URL");
            cfg->port = (int)v;
        }
        if (slash != NULL && slash + 1 < end) {
            if (lb_parse_uint(slash + 1, (size_t)(end - slash - 1), 1 << 20, &v))
                return lb_error_set(err, LB_EUSAGE, "bad database number in URL");
            cfg->db = (int)v;
        }
        snprintf(cfg->addr, sizeof(cfg->addr), strchr(cfg->host, ':') ? "[%s]:%d" : "%s:%d",
                 cfg->host, cfg->port);
    } else {
        return lb_error_set(err, LB_EUSAGE,
                            "expected redis://[user[:password]@]host[:port][/db] or "
                            "unix:///path[?db=N]");
    }
    if (cfg->pass[0] == '\0') {
        const char *envp = getenv("LOGBRIDGE_REDIS_PASSWORD");
        if (envp != NULL && strlen(envp) >= sizeof(cfg->pass))
            return lb_error_set(err, LB_EUSAGE, "LOGBRIDGE_REDIS_PASSWORD is longer than %zu bytes",
                                sizeof(cfg->pass) - 1);
        if (envp != NULL)
            strcpy(cfg->pass, envp);
    }
    /* DESIGN section 7: without a password, AUTH is skipped and the server
     * takes us as `default`, which may well be allowed to write: the named
     * user's ACL would silently not apply. */
    if (cfg->user[0] != '\0' && cfg->pass[0] == '\0')
        return lb_error_set(err, LB_EUSAGE,
                            "the URL names user '%.64s' but no password was found (in the URL "
                            "or LOGBRIDGE_REDIS_PASSWORD); logbridge never logs in as default "
                            "instead",
                            cfg->user);
    return 0;
}

/* ---- connection ----------------------------------------------------------- */

struct lb_redis *lb_redis_create(const struct lb_redis_cfg *cfg)
{
    struct lb_redis *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->cfg = *cfg;
    return r;
}

void lb_redis_drop(struct lb_redis *r)
{
    if (r != NULL && r->c != NULL) {
        redisFree(r->c);
        r->c = NULL;
    }
}

void lb_redis_destroy(struct lb_redis *r)
{
    if (r == NULL)
        return;
    lb_redis_drop(r);
    memset(r->cfg.pass, 0, sizeof(r->cfg.pass));
    free(r);
}

redisContext *lb_redis_ctx(struct lb_redis *r)
{
    return r->c;
}

const char *lb_redis_addr(const struct lb_redis *r)
{
    return r->cfg.addr;
}

unsigned long lb_redis_reconnects(const struct lb_redis *r)
{
    return r->reconnects;
}

static struct timeval lb_tv(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

void lb_redis_set_timeout(struct lb_redis *r, int ms)
{
    if (r->c != NULL)
        redisSetTimeout(r->c, lb_tv(ms));
}

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
    static const char *const codes[] = {"OOM ",        "BUSY ",       "LOADING ",  "READONLY ",
                                        "MASTERDOWN ", "NOREPLICAS ", "TRYAGAIN ", "CLUSTERDOWN "};
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

static int lb_redis_fail(struct lb_redis *r, struct lb_error *err, const char *what)
{
    /* hiredis reports a failed allocation while building a reply as
     * REDIS_ERR_OOM: our memory, not the connection (not retried as one) */
    if (r->c != NULL && r->c->err == REDIS_ERR_OOM) {
        lb_error_set(err, LB_ENOMEM, "out of memory while reading a reply from redis at %s",
                     r->cfg.addr);
        lb_redis_drop(r);
        return LB_ENOMEM;
    }
    int code = lb_error_set(err, LB_EREDIS, "redis at %s: %s", r->cfg.addr,
                            r->c && r->c->errstr[0] ? r->c->errstr : what);
    lb_redis_drop(r);
    return code;
}

int lb_redis_connect(struct lb_redis *r, struct lb_error *err)
{
    lb_redis_drop(r);
    struct timeval tv = lb_tv(LB_REDIS_CONNECT_MS);
    r->c = r->cfg.is_unix ? redisConnectUnixWithTimeout(r->cfg.path, tv)
                          : redisConnectWithTimeout(r->cfg.host, r->cfg.port, tv);
    if (r->c == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    if (r->c->err)
        return lb_redis_fail(r, err, "cannot connect");
    redisSetTimeout(r->c, lb_tv(LB_REDIS_READ_MS));
    if (!r->cfg.is_unix)
        redisEnableKeepAlive(r->c);

    if (r->cfg.pass[0] != '\0') {
        const char *argv[3] = {"AUTH", r->cfg.user, r->cfg.pass};
        int argc = r->cfg.user[0] ? 3 : 2;
        if (argc == 2)
            argv[1] = r->cfg.pass;
        redisReply *rep = redisCommandArgv(r->c, argc, argv, NULL);
        if (rep == NULL)
            return lb_redis_fail(r, err, "connection lost during AUTH");
        if (rep->type == REDIS_REPLY_ERROR) {
            int code =
                lb_error_set(err, LB_EAUTH, "redis at %s refused the password for user %s: %s",
                             r->cfg.addr, r->cfg.user[0] ? r->cfg.user : "default", rep->str);
            freeReplyObject(rep);
            lb_redis_drop(r);
            return code;
        }
        freeReplyObject(rep);
    }
    if (r->cfg.db != 0) {
        redisReply *rep = redisCommand(r->c, "SELECT %d", r->cfg.db);
        if (rep == NULL)
            return lb_redis_fail(r, err, "connection lost during SELECT");
        if (rep->type == REDIS_REPLY_ERROR) {
            int code = lb_redis_is_auth_error(rep->str) ? LB_EAUTH : LB_EREPLY;
            lb_error_set(err, code, "redis at %s (user %s): SELECT %d: %s", r->cfg.addr,
                         r->cfg.user[0] ? r->cfg.user : "default", r->cfg.db, rep->str);
            freeReplyObject(rep);
            lb_redis_drop(r);
            return code;
        }
        freeReplyObject(rep);
    } else {
        /* A PING proves the server answers (and that no password is needed). */
        redisReply *rep = redisCommand(r->c, "PING");
        if (rep == NULL)
            return lb_redis_fail(r, err, "connection lost");
        if (rep->type == REDIS_REPLY_ERROR) {
            int code = lb_redis_is_auth_error(rep->str) ? LB_EAUTH : LB_EREDIS;
            lb_error_set(err, code, "redis at %s (user %s): %s", r->cfg.addr,
                         r->cfg.user[0] ? r->cfg.user : "default", rep->str);
            freeReplyObject(rep);
            lb_redis_drop(r);
            return code;
        }
        freeReplyObject(rep);
    }
    if (r->ever_connected)
        r->reconnects++;
    r->ever_connected = 1;
    return 0;
}

long lb_redis_backoff_ms(unsigned attempt)
{
    long ms = 100;
    for (unsigned i = 0; i < attempt && ms < 5000; i++)
        ms *= 2;
    return ms > 5000 ? 5000 : ms;
}

int lb_redis_backoff_sleep(unsigned attempt, atomic_int *stop)
{
    long ms = lb_redis_backoff_ms(attempt);
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
                lb_info("redis at %s is reachable again after %u attempts", r->cfg.addr,
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
                                r->cfg.addr, give_up_sec, why);
        }
        if (lb_redis_backoff_sleep(attempt, stop) == LB_ESTOP)
            return lb_error_set(err, LB_ESTOP, "stopped while waiting for redis");
        attempt++;
    }
}

redisReply *lb_redis_cmd(struct lb_redis *r, int argc, const char **argv, const size_t *lens,
                         struct lb_error *err)
{
    if (r->c == NULL) {
        lb_error_set(err, LB_EREDIS, "redis at %s: not connected", r->cfg.addr);
        return NULL;
    }
    redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);
    if (rep == NULL)
        lb_redis_fail(r, err, "connection lost");
    return rep;
}

redisReply *lb_redis_cmdf(struct lb_redis *r, struct lb_error *err, const char *fmt, ...)
{
    if (r->c == NULL) {
        lb_error_set(err, LB_EREDIS, "redis at %s: not connected", r->cfg.addr);
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(r->c, fmt, ap);
    va_end(ap);
    if (rep == NULL)
        lb_redis_fail(r, err, "connection lost");
    return rep;
}

int lb_redis_try_reply(struct lb_redis *r, redisReply **out, struct lb_error *err)
{
    *out = NULL;
    if (r->c == NULL)
        return lb_error_set(err, LB_EREDIS, "redis at %s: not connected", r->cfg.addr);
    void *rep = NULL;
    if (redisGetReplyFromReader(r->c, &rep) != REDIS_OK)
        return lb_redis_fail(r, err, "unreadable reply");
    if (rep == NULL) {
        struct pollfd pfd = {r->c->fd, POLLIN, 0};
        if (poll(&pfd, 1, 0) <= 0)
            return 0;
        /* readable: this read does not block (a closed socket reports it) */
        if (redisBufferRead(r->c) != REDIS_OK || redisGetReplyFromReader(r->c, &rep) != REDIS_OK)
            return lb_redis_fail(r, err, "connection lost");
    }
    *out = rep;
    return rep != NULL;
}

redisReply *lb_redis_get_reply(struct lb_redis *r, struct lb_error *err)
{
    void *rep = NULL;
    if (r->c == NULL) {
        lb_error_set(err, LB_EREDIS, "redis at %s: not connected", r->cfg.addr);
        return NULL;
    }
    if (redisGetReply(r->c, &rep) != REDIS_OK || rep == NULL) {
        lb_redis_fail(r, err, "connection lost");
        return NULL;
    }
    return rep;
}
