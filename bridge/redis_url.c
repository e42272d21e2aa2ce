/*
 * redis_url.c - every form of a Redis URL (DESIGN.md section 7) into a
 * struct lb_redis_cfg:
 *
 *   redis://[user[:password]@]host[:port][,host[:port]...][/db]
 *   rediss://...                      the same over TLS
 *   unix:///path/redis.sock[?db=N&user=NAME]
 *   redis+sentinel://[user[:password]@]s1[:port],s2.../MASTER[/db]
 *   rediss+sentinel://...             TLS to the Sentinels and the data nodes
 *
 * The user and password are the data nodes' (the Sentinels' come from
 * --sentinel-user and LOGBRIDGE_SENTINEL_PASSWORD, lb_redis_cfg_sentinel).
 */
#include "redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
            if (c == 0)
                return -1; /* a NUL would end the C string early: "%00" is no name */
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

/* "host[:port]" or "[v6][:port]" in s[0..n). */
static int lb_url_hostport(const char *s, size_t n, int defport, struct lb_redis_host *h,
                           struct lb_error *err)
{
    const char *end = s + n, *hs = s, *he, *portp = NULL;
    long v;
    if (n > 0 && *s == '[') {
        const char *rb = memchr(s, ']', n);
        if (rb == NULL)
            return lb_error_set(err, LB_EUSAGE, "unterminated [ in host");
        hs = s + 1;
        he = rb;
        if (rb + 1 < end) {
            if (rb[1] != ':')
                return lb_error_set(err, LB_EUSAGE, "expected :port after ]");
            portp = rb + 2;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        he = colon ? colon : end;
        if (colon)
            portp = colon + 1;
    }
    if (he == hs)
        return lb_error_set(err, LB_EUSAGE, "no host in URL");
    if ((size_t)(he - hs) >= sizeof(h->host))
        return lb_error_set(err, LB_EUSAGE, "host name too long");
    memcpy(h->host, hs, (size_t)(he - hs));
    h->host[he - hs] = '\0';
    h->port = defport;
    if (portp != NULL) {
        if (lb_parse_uint(portp, (size_t)(end - portp), 65535, &v) || v == 0)
            return lb_error_set(err, LB_EUSAGE, "bad port in URL");
        h->port = (int)v;
    }
    return 0;
}

/* user[:password] in s[0..n). */
static int lb_url_userinfo(const char *s, size_t n, struct lb_redis_cfg *cfg,
                           struct lb_error *err)
{
    const char *colon = memchr(s, ':', n);
    size_t ulen = colon ? (size_t)(colon - s) : n;
    if (lb_pct_decode(s, ulen, cfg->user, sizeof(cfg->user)))
        return lb_error_set(err, LB_EUSAGE, "bad user name in URL");
    if (colon != NULL) {
        if (lb_pct_decode(colon + 1, n - ulen - 1, cfg->pass, sizeof(cfg->pass)))
            return lb_error_set(err, LB_EUSAGE, "bad password in URL");
        cfg->pass_in_url = cfg->pass[0] != '\0';
    }
    return 0;
}

/* ?db=N&user=NAME after a socket path: each optional, in any order, once. */
static int lb_url_query(const char *q, struct lb_redis_cfg *cfg, struct lb_error *err)
{
    int have_db = 0, have_user = 0;
    long v;
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
    return 0;
}

static int lb_url_unix(const char *p, struct lb_redis_cfg *cfg, struct lb_error *err)
{
    const char *q = strchr(p, '?');
    size_t plen = q ? (size_t)(q - p) : strlen(p);
    if (plen == 0 || p[0] != '/' || plen >= sizeof(cfg->path))
        return lb_error_set(err, LB_EUSAGE, "expected unix:///path/redis.sock[?db=N&user=NAME]");
    cfg->is_unix = 1;
    memcpy(cfg->path, p, plen);
    snprintf(cfg->addr, sizeof(cfg->addr), "unix:%s", cfg->path);
    return q != NULL ? lb_url_query(q, cfg, err) : 0;
}

/* The path after the hosts: "/db" for a server, "/MASTER[/db]" for
 * Sentinels. */
static int lb_url_path(const char *slash, const char *end, struct lb_redis_cfg *cfg,
                       struct lb_error *err)
{
    long v;
    const char *p = slash != NULL ? slash + 1 : end;
    if (cfg->sentinel) {
        const char *s2 = memchr(p, '/', (size_t)(end - p));
        const char *me = s2 ? s2 : end;
        if (me == p)
            return lb_error_set(err, LB_EUSAGE, "a Sentinel URL names the master: "
                                                "redis+sentinel://host:port,.../MASTER[/db]");
        if (lb_pct_decode(p, (size_t)(me - p), cfg->master, sizeof(cfg->master)))
            return lb_error_set(err, LB_EUSAGE, "bad master name in URL");
        p = s2 != NULL ? s2 + 1 : end;
    }
    if (p < end) {
        if (lb_parse_uint(p, (size_t)(end - p), 1 << 20, &v))
            return lb_error_set(err, LB_EUSAGE, "bad database number in URL");
        cfg->db = (int)v;
    }
    return 0;
}

static int lb_url_net(const char *p, struct lb_redis_cfg *cfg, struct lb_error *err)
{
    const char *end = p + strlen(p);
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *hostend = slash ? slash : end;
    const char *at = NULL;
    for (const char *x = p; x < hostend; x++)
        if (*x == '@')
            at = x; /* the last '@': a password may contain '@' when encoded */
    int rc;
    if (at != NULL) {
        if ((rc = lb_url_userinfo(p, (size_t)(at - p), cfg, err)) != 0)
            return rc;
        p = at + 1;
    }
    int defport = cfg->sentinel ? 26379 : 6379;
    while (p <= hostend) {
        const char *comma = memchr(p, ',', (size_t)(hostend - p));
        const char *he = comma ? comma : hostend;
        if (cfg->nhosts == LB_REDIS_MAX_HOSTS)
            return lb_error_set(err, LB_EUSAGE, "more than %d hosts in URL", LB_REDIS_MAX_HOSTS);
        if ((rc = lb_url_hostport(p, (size_t)(he - p), defport, &cfg->hosts[cfg->nhosts], err)))
            return rc;
        cfg->nhosts++;
        p = he + 1;
    }
    if ((rc = lb_url_path(slash, end, cfg, err)) != 0)
        return rc;
    const struct lb_redis_host *h = &cfg->hosts[0];
    int n = snprintf(cfg->addr, sizeof(cfg->addr), strchr(h->host, ':') ? "[%s]:%d" : "%s:%d",
                     h->host, h->port);
    if (cfg->sentinel && n > 0 && (size_t)n < sizeof(cfg->addr))
        snprintf(cfg->addr + n, sizeof(cfg->addr) - (size_t)n, "%s (Sentinel, master %s)",
                 cfg->nhosts > 1 ? ",..." : "", cfg->master);
    return 0;
}

/* A password from the environment, when the URL has none. */
static int lb_url_env_pass(const char *var, char *pass, size_t cap, struct lb_error *err)
{
    const char *envp = getenv(var);
    if (envp == NULL || pass[0] != '\0')
        return 0;
    if (strlen(envp) >= cap)
        return lb_error_set(err, LB_EUSAGE, "%s is longer than %zu bytes", var, cap - 1);
    strcpy(pass, envp);
    return 0;
}

int lb_redis_url_parse(const char *url, struct lb_redis_cfg *cfg, struct lb_error *err)
{
    static const struct {
        const char *scheme;
        int tls, sentinel;
    } schemes[] = {{"redis://", 0, 0},
                   {"rediss://", 1, 0},
                   {"redis+sentinel://", 0, 1},
                   {"rediss+sentinel://", 1, 1}};
    memset(cfg, 0, sizeof(*cfg));
    int rc = -1;
    if (strncmp(url, "unix://", 7) == 0)
        rc = lb_url_unix(url + 7, cfg, err);
    for (size_t i = 0; rc == -1 && i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t n = strlen(schemes[i].scheme);
        if (strncmp(url, schemes[i].scheme, n) == 0) {
            cfg->tls.on = schemes[i].tls;
            cfg->sentinel = schemes[i].sentinel;
            rc = lb_url_net(url + n, cfg, err);
        }
    }
    if (rc == -1)
        return lb_error_set(err, LB_EUSAGE,
                            "expected redis://[user[:password]@]host[:port][/db], rediss://..., "
                            "unix:///path[?db=N&user=NAME] or "
                            "redis+sentinel://host[:port],.../MASTER[/db]");
    if (rc != 0)
        return rc;
    if ((rc = lb_url_env_pass("LOGBRIDGE_REDIS_PASSWORD", cfg->pass, sizeof(cfg->pass), err)))
        return rc;
    if (cfg->sentinel &&
        (rc = lb_url_env_pass("LOGBRIDGE_SENTINEL_PASSWORD", cfg->sentinel_pass,
                              sizeof(cfg->sentinel_pass), err)))
        return rc;
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
