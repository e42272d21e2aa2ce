/*
 * cli.c - common option defaults, usage errors (exit 2, naming the option),
 * the number scanners, and what every command does after parsing.
 */
#include "cli.h"
#include "error.h"
#include "redis.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lb_common_defaults(struct lb_common *c)
{
    memset(c, 0, sizeof(*c));
    const char *env = getenv("LOGBRIDGE_REDIS");
    c->redis_url = env && *env ? env : LB_DEFAULT_REDIS;
    c->redis_from = env && *env ? LB_REDIS_FROM_ENV : LB_REDIS_FROM_DEFAULT;
    c->json_field = "json_payload";
    c->provenance = 1;
    c->log_level = LB_LOG_INFO;
    c->max_line = LB_DEFAULT_MAX_LINE;
    c->wait_timeout_ms = 1000;
}

int lb_cli_error(const struct lb_cli *cli, const char *opt, const char *fmt, ...)
{
    char msg[512], name[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (opt == NULL) {
        name[0] = '\0';
    } else if (cli->prefix != NULL) {
        /* config keys are the long options with '-' -> '_' */
        size_t o = (size_t)snprintf(name, sizeof(name), "%s%s", cli->prefix,
                                    cli->prefix[0] != '\0' ? "." : "");
        for (const char *p = opt; *p && o + 3 < sizeof(name); p++)
            name[o++] = *p == '-' ? '_' : *p;
        name[o++] = ':';
        name[o++] = ' ';
        name[o] = '\0';
    } else {
        snprintf(name, sizeof(name), "--%s: ", opt);
    }
    fprintf(stderr, "logbridge %s: %s%s\n", cli->cmd, name, msg);
    lb_cli_try(cli);
    return LB_EXIT_USAGE;
}

void lb_cli_try(const struct lb_cli *cli)
{
    if (cli->prefix == NULL)
        fprintf(stderr, "Try 'logbridge %s --help'.\n", cli->cmd);
}

int lb_edit_distance(const char *a, const char *b)
{
    enum { N = 64 };
    size_t n = strlen(a), m = strlen(b);
    if (n >= N || m >= N)
        return 99;
    int d[N][N];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[n][m];
}

int lb_u64_parse(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 20)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        /* 19 digits cannot overflow: only the 20th is checked (a division
         * per digit showed in parity's profile) */
        if (i == 19 && v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int lb_parse_ll(const char *s, long long min, long long max, long long *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max || s[0] == ' ' || s[0] == '+')
        return -1;
    *out = v;
    return 0;
}

int lb_parse_double(const char *s, double min, double max, double *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int lb_common_redis_cfg(const struct lb_common *c, struct lb_redis_cfg *cfg, struct lb_error *err)
{
    int rc = lb_redis_url_parse(c->redis_url, cfg, err);
    if (rc != 0)
        return rc;
    const struct {
        const char *name;
        const char *val;
    } tls[] = {{"tls-ca-file", c->tls_ca_file},     {"tls-ca-dir", c->tls_ca_dir},
               {"tls-cert-file", c->tls_cert_file}, {"tls-key-file", c->tls_key_file},
               {"tls-server-name", c->tls_server_name}, {"tls-insecure", c->tls_insecure ? "" : NULL}};
    for (size_t i = 0; i < sizeof(tls) / sizeof(tls[0]); i++)
        if (tls[i].val != NULL && !cfg->tls.on)
            return lb_error_set(err, LB_EUSAGE,
                                "--%s: needs a rediss:// (or rediss+sentinel://) URL; the URL "
                                "given is plain text",
                                tls[i].name);
    cfg->tls.ca_file = c->tls_ca_file;
    cfg->tls.ca_dir = c->tls_ca_dir;
    cfg->tls.cert_file = c->tls_cert_file;
    cfg->tls.key_file = c->tls_key_file;
    cfg->tls.server_name = c->tls_server_name;
    cfg->tls.insecure = c->tls_insecure;
    if (c->sentinel_user != NULL) {
        if (!cfg->sentinel)
            return lb_error_set(err, LB_EUSAGE, "--sentinel-user: needs a redis+sentinel:// URL");
        if (strlen(c->sentinel_user) >= sizeof(cfg->sentinel_user))
            return lb_error_set(err, LB_EUSAGE, "--sentinel-user: too long");
        if (cfg->sentinel_pass[0] == '\0')
            return lb_error_set(err, LB_EUSAGE,
                                "--sentinel-user: names user '%.64s' but "
                                "LOGBRIDGE_SENTINEL_PASSWORD is not set; logbridge never logs "
                                "in as default instead",
                                c->sentinel_user);
        strcpy(cfg->sentinel_user, c->sentinel_user);
    }
    cfg->cluster = c->cluster;
    if (cfg->cluster == LB_CLUSTER_YES && cfg->sentinel)
        return lb_error_set(err, LB_EUSAGE, "--cluster yes: a Sentinel URL names one master");
    cfg->wait_replicas = (int)c->wait_replicas;
    cfg->wait_timeout_ms = (int)c->wait_timeout_ms;
    return 0;
}

int lb_common_check_redis(const struct lb_common *c, const struct lb_cli *cli)
{
    struct lb_redis_cfg cfg;
    struct lb_error err = {0};
    int rc = lb_common_redis_cfg(c, &cfg, &err);
    if (rc == 0 && cfg.tls.on) {
        /* load the certificates now: a bad file is a usage error, not a
         * connection that fails later */
        struct lb_tls *t = NULL;
        rc = lb_tls_create(&cfg.tls, &t, &err);
        lb_tls_destroy(t);
        if (rc != 0)
            return lb_cli_error(cli, NULL, "%s", err.msg);
    }
    if (rc == 0)
        return 0;
    if (strncmp(err.msg, "--", 2) == 0)
        return lb_cli_error(cli, NULL, "%s", err.msg);
    switch (c->redis_from) {
    case LB_REDIS_FROM_ENV:
        return lb_cli_error(cli, NULL, "LOGBRIDGE_REDIS: %s", err.msg);
    case LB_REDIS_FROM_CONFIG:
        return lb_cli_error(cli, NULL, "redis: %s", err.msg);
    default:
        return lb_cli_error(cli, "redis", "%s", err.msg);
    }
}

int lb_common_start(const struct lb_common *c, const struct lb_cli *cli)
{
    if (lb_common_check_redis(c, cli) != 0)
        return LB_EXIT_USAGE;
    if (lb_log_open(c->log_level, c->log_json, c->log_file) != 0)
        return lb_cli_error(cli, "log-file", "%s: %s", c->log_file, strerror(errno));
    /* Only a command-line --redis is in ps; the environment and a config file
     * are the places the warning recommends. */
    struct lb_redis_cfg cfg;
    if (c->redis_from == LB_REDIS_FROM_OPTION &&
        lb_redis_url_parse(c->redis_url, &cfg, NULL) == 0 && cfg.pass_in_url)
        lb_warn("the Redis password is on the command line, where ps shows it; "
                "prefer the environment variable LOGBRIDGE_REDIS_PASSWORD");
    if (c->tls_insecure)
        lb_warn("--tls-insecure: the Redis server's certificate and name are not verified; "
                "anyone on the path can read and change what logbridge sends");
    return 0;
}
