/*
 * opts.c - the table-driven option parser, --help and the common options
 * (see opts.h). The only getopt loop of logbridge.
 */
#include "opts.h"

#include "stream_set.h"

#include "error.h"
#include "http.h"
#include "redis.h"

#include <getopt.h>
#include <stdbool.h>
#include <string.h>

#define LB_OPTS_MAX 64 /* own + common options of one command */
#define LB_OPTS_ID0 1000
#define LB_OPTS_HELP (LB_OPTS_ID0 - 1)
#define LB_OPTS_VERSION (LB_OPTS_ID0 - 2)

/* ---- the common options ----------------------------------------------------- */

static int lb_common_set_redis(void *base, const char *arg, char *why, size_t cap)
{
    struct lb_common *c = base;
    struct lb_redis_cfg cfg;
    struct lb_error err = {0};
    if (lb_redis_url_parse(arg, &cfg, &err) != 0) {
        snprintf(why, cap, "%s", err.msg);
        return -1;
    }
    c->redis_url = arg;
    c->redis_from = LB_REDIS_FROM_OPTION; /* config.c says LB_REDIS_FROM_CONFIG itself */
    return 0;
}

/* ADDR:PORT; whether it can be bound is known only when it is (service.c) */
static int lb_common_set_http(void *base, const char *arg, char *why, size_t cap)
{
    char host[256], port[8];
    if (lb_http_addr_parse(arg, host, sizeof(host), port, sizeof(port), why, cap) != 0)
        return -1;
    ((struct lb_common *)base)->http = arg;
    return 0;
}

#define LB_C struct lb_common
const struct lb_opt lb_common_opts[] = {
    LB_OPT_SET("redis", lb_common_set_redis, NULL, "URL",
               "redis://[user[:password]@]host[:port][,host:port...][/db],\n"
               "rediss://... (TLS), unix:///path/redis.sock[?db=N&user=NAME]\n"
               "or redis+sentinel://[user@]s1:26379,s2:26379/MASTER[/db]\n"
               "(env LOGBRIDGE_REDIS; password preferably in env\n"
               "LOGBRIDGE_REDIS_PASSWORD)",
               0),
    LB_OPT_STR("tls-ca-file", LB_C, tls_ca_file, "a path", "PATH",
               "CA certificates to verify the server with (default: the system store)", 0),
    LB_OPT_STR("tls-ca-dir", LB_C, tls_ca_dir, "a path", "PATH",
               "a directory of CA certificates (c_rehash layout)", 0),
    LB_OPT_STR("tls-cert-file", LB_C, tls_cert_file, "a path", "PATH",
               "client certificate (mutual TLS), with --tls-key-file", 0),
    LB_OPT_STR("tls-key-file", LB_C, tls_key_file, "a path", "PATH",
               "the client certificate's private key", 0),
    LB_OPT_STR("tls-server-name", LB_C, tls_server_name, "a host name", "NAME",
               "SNI and the name verified (default: the URL's host)", 0),
    LB_OPT_FLAG("tls-insecure", LB_C, tls_insecure, 1,
                "do not verify the server's certificate (warned at every start)", 0),
    LB_OPT_STR("sentinel-user", LB_C, sentinel_user, "a user name", "NAME",
               "ACL user for the Sentinels (password in env\nLOGBRIDGE_SENTINEL_PASSWORD)", 0),
    LB_OPT_CHOICE("cluster", LB_C, cluster, "auto|yes|no", "auto|yes|no",
                  "Redis Cluster: detect (default), or say so", 0),
    LB_OPT_NUM("wait-replicas", LB_ARG_INT, LB_C, wait_replicas, 0, 64,
               "a number of replicas from 0 to 64", "N",
               "WAIT for N replicas after each batch (shortfalls are counted)", 0),
    LB_OPT_NUM("wait-timeout", LB_ARG_INT, LB_C, wait_timeout_ms, 1, 600000,
               "milliseconds from 1 to 600000", "MS", "how long WAIT waits (default 1000)", 0),
    LB_OPT_CHOICE("format", LB_C, jsonl, "pipe|jsonl", "pipe|jsonl",
                  "input line format (default pipe)", LB_OPTF_INPUT),
    LB_OPT_CHOICE("encoding", LB_C, json_encoding, "fields|json", "fields|json",
                  "stream entry layout (default fields)", LB_OPTF_INPUT),
    LB_OPT_STR("json-field", LB_C, json_field, "a field name", "NAME",
               "field of the json encoding (default json_payload)", 0),
    LB_OPT_FLAG("no-provenance", LB_C, provenance, 0, "leave out the src and off fields",
                LB_OPTF_INPUT),
    LB_OPT_NUM("max-line", LB_ARG_SIZE, LB_C, max_line, 16, 256LL * 1024 * 1024,
               "a number of bytes from 16 to 268435456", "N",
               "longest valid line in bytes (default 1048576)", LB_OPTF_INPUT),
    LB_OPT_CHOICE("log-level", LB_C, log_level, "error|warn|info|debug", "L",
                  "error|warn|info|debug (default info)", LB_OPTF_PROCESS),
    LB_OPT_CHOICE("log-format", LB_C, log_json, "text|json", "F", "text|json (default text)",
                  LB_OPTF_PROCESS),
    LB_OPT_STR("log-file", LB_C, log_file, "a path", "PATH",
               "log here instead of stderr (SIGHUP reopens it)", LB_OPTF_PROCESS),
    LB_OPT_STR("metrics-file", LB_C, metrics_file, "a path", "PATH",
               "Prometheus text metrics, rewritten every 5 s and at exit", LB_OPTF_PROCESS),
    LB_OPT_SET("http", lb_common_set_http, NULL, "ADDR:PORT",
               "serve /metrics and /health over HTTP (e.g. 127.0.0.1:9187)",
               LB_OPTF_PROCESS | LB_OPTF_SERVE),
    LB_OPT_END,
};
#undef LB_C

/* ---- one value ----------------------------------------------------------------- */

/* "a, b or c" from "a|b|c". */
static void lb_opts_choices_text(const char *choices, char *out, size_t cap)
{
    size_t n = 0, k = strlen(choices);
    int bars = 0;
    for (size_t i = 0; i < k; i++)
        bars += choices[i] == '|';
    for (size_t i = 0; i < k && n + 5 < cap; i++) {
        if (choices[i] != '|') {
            out[n++] = choices[i];
            continue;
        }
        bars--;
        const char *sep = bars == 0 ? " or " : ", ";
        for (const char *p = sep; *p && n + 1 < cap; p++)
            out[n++] = *p;
    }
    out[n] = '\0';
}

/* The index of arg in "a|b|c", or -1. */
static int lb_opts_choice(const char *choices, const char *arg)
{
    size_t len = strlen(arg);
    int idx = 0;
    for (const char *p = choices;; idx++) {
        const char *bar = strchr(p, '|');
        size_t n = bar != NULL ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, arg, n) == 0)
            return idx;
        if (bar == NULL)
            return -1;
        p = bar + 1;
    }
}

static int lb_opts_bad(const struct lb_opt *e, const char *arg, char *why, size_t cap)
{
    if (e->kind == LB_ARG_CHOICE) {
        char list[160];
        lb_opts_choices_text(e->choices, list, sizeof(list));
        snprintf(why, cap, "expected %s, got '%s'", list, arg);
    } else if (e->kind == LB_ARG_STR) {
        snprintf(why, cap, "expected %s", e->what);
    } else {
        snprintf(why, cap, "expected %s, got '%s'", e->what, arg);
    }
    return -1;
}

int lb_opts_set(const struct lb_opt *e, void *base, const char *arg, char *why, size_t cap)
{
    void *t = (char *)base + e->off;
    long long v;
    double d;
    switch (e->kind) {
    case LB_ARG_FLAG:
        *(int *)t = e->ival;
        return 0;
    case LB_ARG_STR:
        if (*arg == '\0')
            return lb_opts_bad(e, arg, why, cap);
        *(const char **)t = arg;
        return 0;
    case LB_ARG_CHOICE: {
        int i = lb_opts_choice(e->choices, arg);
        if (i < 0)
            return lb_opts_bad(e, arg, why, cap);
        *(int *)t = i;
        return 0;
    }
    case LB_ARG_INT:
    case LB_ARG_SIZE:
        if (lb_parse_ll(arg, e->min, e->max, &v) != 0)
            return lb_opts_bad(e, arg, why, cap);
        if (e->kind == LB_ARG_INT)
            *(long long *)t = v;
        else
            *(size_t *)t = (size_t)v;
        return 0;
    case LB_ARG_DOUBLE:
        if (lb_parse_double(arg, (double)e->min, (double)e->max, &d) != 0)
            return lb_opts_bad(e, arg, why, cap);
        *(double *)t = d;
        return 0;
    case LB_ARG_SET:
        why[0] = '\0';
        if (e->set(base, arg, why, cap) == 0)
            return 0;
        if (why[0] == '\0')
            lb_opts_bad(e, arg, why, cap);
        return -1;
    case LB_ARG_STREAMS:
        return lb_streams_add((struct lb_streams *)t, arg, why, cap);
    }
    return -1;
}

const char *lb_opts_key(const struct lb_opt *e, char *out, size_t cap)
{
    size_t i = 0;
    for (; e->name[i] != '\0' && i + 1 < cap; i++)
        out[i] = e->name[i] == '-' ? '_' : e->name[i];
    out[i] = '\0';
    return out;
}

static const struct lb_opt *lb_opts_lookup(const struct lb_opt *t, const char *name, int key)
{
    char k[64];
    for (; t != NULL && t->name != NULL; t++)
        if (strcmp(key ? lb_opts_key(t, k, sizeof(k)) : t->name, name) == 0)
            return t;
    return NULL;
}

const struct lb_opt *lb_opts_find(const struct lb_optspec *spec, const char *key, int *common)
{
    const struct lb_opt *e = spec != NULL ? lb_opts_lookup(spec->opts, key, 1) : NULL;
    *common = 0;
    if (e == NULL && (spec == NULL || spec->common_off != LB_OPTS_NO_COMMON)) {
        e = lb_opts_lookup(lb_common_opts, key, 1);
        *common = e != NULL;
    }
    return e;
}

/* Near enough to be a typo: at most 2 edits, and fewer than a third of the
 * word (so that "to" does not suggest "tls-ca-dir"). */
static void lb_opts_consider(const char *word, const char *cand, int *best, char *out, size_t cap)
{
    int d = lb_edit_distance(word, cand);
    if (d < *best && d <= 2 && d * 3 <= (int)strlen(word)) {
        *best = d;
        snprintf(out, cap, "%s", cand);
    }
}

int lb_opts_nearest(const struct lb_optspec *spec, const char *word, int as_key,
                    const char *const *extra, char *out, size_t cap)
{
    int best = 99;
    char k[64];
    const struct lb_opt *tables[2] = {
        spec != NULL ? spec->opts : NULL,
        spec == NULL || spec->common_off != LB_OPTS_NO_COMMON ? lb_common_opts : NULL};
    for (int t = 0; t < 2; t++)
        for (const struct lb_opt *e = tables[t]; e != NULL && e->name != NULL; e++) {
            if (t == 1 && spec != NULL && (e->flags & LB_OPTF_SERVE) && !spec->serve)
                continue;
            lb_opts_consider(word, as_key ? lb_opts_key(e, k, sizeof(k)) : e->name, &best, out,
                             cap);
        }
    for (; extra != NULL && *extra != NULL; extra++)
        lb_opts_consider(word, *extra, &best, out, cap);
    return best < 99;
}

/* ---- --help --------------------------------------------------------------------- */

static void lb_opts_help_line(FILE *out, const char *left, const char *help)
{
    /* "  --name META" in 20 columns and a space; a longer one gets two */
    fprintf(out, "  %-20s%s", left, strlen(left) > 20 ? "  " : " ");
    for (const char *p = help; *p; p++) {
        fputc(*p, out);
        if (*p == '\n')
            fprintf(out, "%23s", "");
    }
    fputc('\n', out);
}

static void lb_opts_help_table(FILE *out, const struct lb_opt *t, const struct lb_opt *own,
                               int serve)
{
    for (; t->name != NULL; t++) {
        const struct lb_opt *mine = own != NULL ? lb_opts_lookup(own, t->name, 0) : NULL;
        if (t->help == NULL || (mine != NULL && mine->help != NULL))
            continue; /* a command's own line replaces the common one */
        if ((t->flags & LB_OPTF_SERVE) && !serve)
            continue;
        char left[96];
        const char *meta = t->meta;
        if (t->label != NULL)
            snprintf(left, sizeof(left), "%s", t->label);
        else
            snprintf(left, sizeof(left), "--%s%s%s", t->name, meta ? " " : "", meta ? meta : "");
        lb_opts_help_line(out, left, t->help);
    }
}

void lb_opts_usage(const struct lb_optspec *spec, FILE *out)
{
    static const char help_line[] = "  -h, --help           this help;  --version  the version\n";
    fputs(spec->usage, out);
    if (spec->opts[0].name != NULL) {
        fputc('\n', out);
        lb_opts_help_table(out, spec->opts, NULL, 1);
    }
    if (spec->common_off == LB_OPTS_NO_COMMON)
        fputs(help_line, out);
    if (spec->footer != NULL)
        fputs(spec->footer, out);
    if (spec->common_off != LB_OPTS_NO_COMMON) {
        fputs("\nCommon options:\n", out);
        lb_opts_help_table(out, lb_common_opts, spec->opts, spec->serve);
        fputs(help_line, out);
    }
}

/* ---- the getopt loop ------------------------------------------------------------- */

/* "unknown option '--strem' (did you mean '--stream'?)" */
static void lb_opts_unknown(const struct lb_optspec *spec, const char *bad,
                            const struct lb_cli *cli)
{
    char word[64], near[64];
    const char *name = strncmp(bad, "--", 2) == 0 ? bad + 2 : NULL;
    size_t n = name != NULL ? strcspn(name, "=") : 0;
    if (name != NULL && n < sizeof(word)) {
        snprintf(word, sizeof(word), "%.*s", (int)n, name);
        if (lb_opts_nearest(spec, word, 0, NULL, near, sizeof(near))) {
            fprintf(stderr, "logbridge %s: unknown option '%s' (did you mean '--%s'?)\n", cli->cmd,
                    bad, near);
            return;
        }
    }
    fprintf(stderr, "logbridge %s: unknown option '%s'\n", cli->cmd, bad);
}

/* getopt_long: prints "unknown option"/"missing argument" in our form.
 * Returns the option id, -1 at the end, or '?' after an error. */
static int lb_opts_next(const struct lb_optspec *spec, int argc, char **argv,
                        const struct option *opts, const struct lb_cli *cli)
{
    int id = getopt_long(argc, argv, ":h", opts, NULL);
    if (id == 'h')
        return LB_OPTS_HELP;
    /* getopt has stepped past the bad element, and may have permuted
     * operands in front of it: the bad one is the last it consumed */
    const char *bad = optind > 1 && optind - 1 < argc ? argv[optind - 1] : "?";
    if (id == '?') {
        const struct option *flag = opts;
        while (optopt > 255 && flag->name != NULL && flag->val != optopt)
            flag++;
        if (optopt > 255 && flag->name != NULL) /* "--once=1": a value given to a flag */
            fprintf(stderr, "logbridge %s: --%s: takes no value\n", cli->cmd, flag->name);
        else if (optopt != 0)
            fprintf(stderr, "logbridge %s: unknown option '-%c'\n", cli->cmd, optopt);
        else
            lb_opts_unknown(spec, bad, cli);
        return '?';
    }
    if (id == ':') {
        fprintf(stderr, "logbridge %s: %s: expected a value\n", cli->cmd, bad);
        return '?';
    }
    return id;
}

/* The command's own options, then the common ones it does not replace. */
static size_t lb_opts_collect(const struct lb_optspec *spec, const struct lb_opt **all,
                              size_t *base_off, struct option *lo)
{
    size_t n = 0;
    for (const struct lb_opt *e = spec->opts; e->name != NULL && n < LB_OPTS_MAX; e++, n++) {
        all[n] = e;
        base_off[n] = 0;
    }
    if (spec->common_off != LB_OPTS_NO_COMMON) {
        for (const struct lb_opt *e = lb_common_opts; e->name != NULL && n < LB_OPTS_MAX; e++) {
            if (lb_opts_lookup(spec->opts, e->name, 0) != NULL)
                continue;
            if ((e->flags & LB_OPTF_SERVE) && !spec->serve)
                continue; /* --http of a one-shot command would serve nothing */
            all[n] = e;
            base_off[n++] = spec->common_off;
        }
    }
    for (size_t i = 0; i < n; i++)
        lo[i] = (struct option){all[i]->name,
                                all[i]->kind == LB_ARG_FLAG ? no_argument : required_argument, NULL,
                                (int)(LB_OPTS_ID0 + i)};
    lo[n] = (struct option){"help", no_argument, NULL, LB_OPTS_HELP};
    lo[n + 1] = (struct option){"version", no_argument, NULL, LB_OPTS_VERSION};
    lo[n + 2] = (struct option){NULL, 0, NULL, 0};
    return n;
}

int lb_opts_parse(const struct lb_optspec *spec, void *o, int argc, char **argv,
                  const struct lb_cli *cli, int *first_operand)
{
    const struct lb_opt *all[LB_OPTS_MAX];
    size_t base_off[LB_OPTS_MAX];
    struct option lo[LB_OPTS_MAX + 3];
    bool seen[LB_OPTS_MAX] = {false};
    const char *first[LB_OPTS_MAX] = {NULL}; /* the value an option was first given */
    size_t n = lb_opts_collect(spec, all, base_off, lo);
    /* optind = 0 is glibc's full re-initialisation: optind = 1 keeps getopt's
     * place inside a short-option cluster, so after a parse that stopped
     * early ("-hx": --help) the next parse would read the stale "x". */
    optind = 0;
    opterr = 0; /* lb_opts_next prints the errors in our form */
    int id;
    while ((id = lb_opts_next(spec, argc, argv, lo, cli)) != -1) {
        if (id == LB_OPTS_HELP) {
            lb_opts_usage(spec, stdout);
            return -1;
        }
        if (id == LB_OPTS_VERSION) {
            printf("logbridge %s\n", LB_VERSION);
            return -1;
        }
        if (id < LB_OPTS_ID0 || (size_t)(id - LB_OPTS_ID0) >= n) {
            lb_cli_try(cli);
            return LB_EXIT_USAGE;
        }
        size_t i = (size_t)(id - LB_OPTS_ID0);
        char why[400];
        /* An option given twice that cannot hold two values must not be
         * silently overridden by the second (DESIGN.md section 8). */
        if (seen[i] && !(all[i]->flags & LB_OPTF_REPEAT)) {
            if (all[i]->kind == LB_ARG_FLAG)
                return lb_cli_error(cli, all[i]->name, "given more than once");
            return lb_cli_error(cli, all[i]->name,
                                "given more than once ('%s', then '%s'); it takes one value",
                                first[i], optarg ? optarg : "");
        }
        first[i] = optarg;
        if (lb_opts_set(all[i], (char *)o + base_off[i], optarg ? optarg : "", why, sizeof(why)) !=
            0)
            return lb_cli_error(cli, all[i]->name, "%s", why);
        seen[i] = true;
    }
    if (!spec->operands && optind < argc)
        return lb_cli_error(cli, NULL, "unexpected argument '%s'", argv[optind]);
    for (size_t i = 0; i < n; i++)
        if ((all[i]->flags & LB_OPTF_REQUIRED) && !seen[i])
            return lb_cli_error(cli, all[i]->name, "is required");
    if (first_operand != NULL)
        *first_operand = optind;
    return 0;
}
