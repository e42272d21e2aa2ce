/*
 * cli.c - common options and usage errors (exit 2, naming the option).
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
        size_t o = (size_t)snprintf(name, sizeof(name), "%s.", cli->prefix);
        for (const char *p = opt; *p && o + 3 < sizeof(name); p++)
            name[o++] = *p == '-' ? '_' : *p;
        name[o++] = ':';
        name[o++] = ' ';
        name[o] = '\0';
    } else {
        snprintf(name, sizeof(name), "--%s: ", opt);
    }
    fprintf(stderr, "logbridge %s: %s%s\n", cli->cmd, name, msg);
    return LB_EXIT_USAGE;
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

const char *lb_opt_name(const struct option *opts, int id)
{
    for (; opts->name != NULL; opts++)
        if (opts->val == id)
            return opts->name;
    return "?";
}

int lb_common_option(struct lb_common *c, int id, const char *arg, const struct lb_cli *cli)
{
    long long v;
    switch (id) {
    case LB_OPT_REDIS: {
        struct lb_redis_cfg cfg;
        struct lb_error err;
        if (lb_redis_url_parse(arg, &cfg, &err) != 0)
            return lb_cli_error(cli, "redis", "%s", err.msg), -1;
        c->redis_url = arg;
        c->redis_from = LB_REDIS_FROM_OPTION;
        return 1;
    }
    case LB_OPT_FORMAT:
        if (strcmp(arg, "pipe") == 0)
            c->jsonl = 0;
        else if (strcmp(arg, "jsonl") == 0)
            c->jsonl = 1;
        else
            return lb_cli_error(cli, "format", "expected pipe or jsonl, got '%s'", arg), -1;
        return 1;
    case LB_OPT_ENCODING:
        if (strcmp(arg, "fields") == 0)
            c->json_encoding = 0;
        else if (strcmp(arg, "json") == 0)
            c->json_encoding = 1;
        else
            return lb_cli_error(cli, "encoding", "expected fields or json, got '%s'", arg), -1;
        return 1;
    case LB_OPT_JSON_FIELD:
        if (*arg == '\0')
            return lb_cli_error(cli, "json-field", "expected a field name"), -1;
        c->json_field = arg;
        return 1;
    case LB_OPT_NO_PROVENANCE:
        c->provenance = 0;
        return 1;
    case LB_OPT_LOG_LEVEL:
        if (lb_log_level_parse(arg, &c->log_level) != 0)
            return lb_cli_error(cli, "log-level", "expected error, warn, info or debug, got '%s'",
                                arg),
                   -1;
        return 1;
    case LB_OPT_LOG_FORMAT:
        if (strcmp(arg, "text") == 0)
            c->log_json = 0;
        else if (strcmp(arg, "json") == 0)
            c->log_json = 1;
        else
            return lb_cli_error(cli, "log-format", "expected text or json, got '%s'", arg), -1;
        return 1;
    case LB_OPT_METRICS_FILE:
        if (*arg == '\0')
            return lb_cli_error(cli, "metrics-file", "expected a path"), -1;
        c->metrics_file = arg;
        return 1;
    case LB_OPT_LOG_FILE:
        if (*arg == '\0')
            return lb_cli_error(cli, "log-file", "expected a path"), -1;
        c->log_file = arg;
        return 1;
    case LB_OPT_MAX_LINE:
        if (lb_parse_ll(arg, 16, 256LL * 1024 * 1024, &v) != 0)
            return lb_cli_error(cli, "max-line",
                                "expected a number of bytes from 16 to 268435456, got '%s'", arg),
                   -1;
        c->max_line = (size_t)v;
        return 1;
    default:
        return 0;
    }
}

int lb_cli_common(struct lb_common *c, int id, const char *arg, const struct lb_cli *cli,
                  const char *usage)
{
    if (id == LB_OPT_HELP) {
        fputs(usage, stdout);
        return LB_CLI_DONE;
    }
    if (id == LB_OPT_VERSION) {
        printf("logbridge %s\n", LB_VERSION);
        return LB_CLI_DONE;
    }
    int h = lb_common_option(c, id, arg, cli);
    return h < 0 ? LB_CLI_BAD : h > 0 ? LB_CLI_NEXT : LB_CLI_MINE;
}

int lb_common_check_redis(const struct lb_common *c, const struct lb_cli *cli)
{
    struct lb_redis_cfg cfg;
    struct lb_error err = {0};
    if (lb_redis_url_parse(c->redis_url, &cfg, &err) == 0)
        return 0;
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
    return 0;
}

void lb_getopt_begin(void)
{
    optind = 0;
    opterr = 0; /* lb_getopt prints the errors in our form */
}

int lb_getopt(int argc, char **argv, const struct option *opts, const struct lb_cli *cli)
{
    opterr = 0;
    int prev = optind;
    int id = getopt_long(argc, argv, ":h", opts, NULL);
    if (id == 'h')
        return LB_OPT_HELP;
    if (id == '?') {
        const char *bad = prev < argc ? argv[prev] : "?";
        if (optopt != 0)
            fprintf(stderr, "logbridge %s: unknown option '-%c'\n", cli->cmd, optopt);
        else
            fprintf(stderr, "logbridge %s: unknown option '%s'\n", cli->cmd, bad);
        return '?';
    }
    if (id == ':') {
        /* getopt may have permuted operands in front of the option: the
         * option that lacks its value is the last one it consumed */
        const char *bad = optind - 1 < argc && optind > 1 ? argv[optind - 1] : "?";
        fprintf(stderr, "logbridge %s: %s: expected a value\n", cli->cmd, bad);
        return '?';
    }
    return id;
}
