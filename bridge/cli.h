/*
 * cli.h - options shared by every command, and usage errors. The options
 * themselves (names, checks, help) are tables in opts.h.
 *
 * A job's options can come from the command line or from a `run` config
 * entry; errors name the option the way the operator wrote it: `--maxlen` on
 * the command line, `tail[0].maxlen` in a config (DESIGN.md section 4.8).
 */
#ifndef LB_CLI_H
#define LB_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define LB_VERSION "0.1.0"
#define LB_DEFAULT_REDIS "redis://127.0.0.1:6379/0"
#define LB_DEFAULT_MAX_LINE (1024 * 1024)

/* Where redis_url came from: it decides how an error names it and whether a
 * password in it is visible to ps. */
enum lb_redis_from {
    LB_REDIS_FROM_DEFAULT = 0, /* LB_DEFAULT_REDIS */
    LB_REDIS_FROM_ENV,         /* LOGBRIDGE_REDIS */
    LB_REDIS_FROM_OPTION,      /* --redis on the command line */
    LB_REDIS_FROM_CONFIG       /* "redis" in a run config */
};

struct lb_common {
    const char *redis_url;
    enum lb_redis_from redis_from;
    /* DESIGN.md section 7: TLS, Sentinel and replication options */
    const char *tls_ca_file, *tls_ca_dir, *tls_cert_file, *tls_key_file, *tls_server_name;
    int tls_insecure;
    const char *sentinel_user;
    int cluster; /* LB_CLUSTER_AUTO, _YES, _NO (redis.h) */
    long long wait_replicas;
    long long wait_timeout_ms;
    int jsonl;
    int json_encoding;
    const char *json_field;
    int provenance;
    enum lb_log_level log_level;
    int log_json;
    const char *metrics_file;
    const char *http; /* --http ADDR:PORT (tail, mirror, run) */
    const char *log_file;
    size_t max_line;
};

/* Where options come from: prefix NULL = the command line. */
struct lb_cli {
    const char *cmd;    /* "import", ... */
    const char *prefix; /* "tail[0]" for a config entry, "" for a config's top level */
};

void lb_common_defaults(struct lb_common *c);

/* Print "logbridge CMD: --opt: message" (or "tail[0].opt: message") on
 * stderr and return LB_EXIT_USAGE. opt is the long option name. An error in
 * a command line ends with the hint "Try 'logbridge CMD --help'." */
int lb_cli_error(const struct lb_cli *cli, const char *opt, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The hint alone, after a usage error printed elsewhere (command line only). */
void lb_cli_try(const struct lb_cli *cli);

/* The edit distance of a and b (insertions, deletions, substitutions and
 * transpositions of neighbours, each 1), for "did you mean" hints; capped
 * at 99 for long words. */
int lb_edit_distance(const char *a, const char *b);

/* The number scanners of every option and config value: the whole string,
 * overflow-checked, within min..max (no sign '+', no leading space; a double
 * must be finite). Returns 0 or -1. */
int lb_parse_ll(const char *s, long long min, long long max, long long *out);

/* An unsigned decimal of exactly n bytes (no sign, no spaces, no overflow
 * past 2^64-1: refused, never wrapped). 0 or -1. The one digit scanner of
 * logbridge's own numbers (checkpoints, stream IDs, provenance). */
int lb_u64_parse(const char *s, size_t n, uint64_t *out);
int lb_parse_double(const char *s, double min, double max, double *out);

/* Check the Redis URL wherever it came from (LOGBRIDGE_REDIS is read by
 * lb_common_defaults without a check, and a user without a password depends
 * on the environment): returns 0, or LB_EXIT_USAGE after printing the error
 * naming the URL's origin. */
int lb_common_check_redis(const struct lb_common *c, const struct lb_cli *cli);

struct lb_redis_cfg;
struct lb_error;

/* The Redis connection the options describe: the URL (lb_redis_url_parse)
 * and the TLS, Sentinel and WAIT options. LB_EUSAGE naming the option: a
 * TLS option without a rediss:// URL, --sentinel-user without a Sentinel URL
 * or without LOGBRIDGE_SENTINEL_PASSWORD. The strings are borrowed from c. */
int lb_common_redis_cfg(const struct lb_common *c, struct lb_redis_cfg *cfg, struct lb_error *err);

/* What every command does after parsing its options: check the Redis URL
 * and options (the TLS files are loaded once, so a bad one is exit 2 naming
 * it), open the log as the options say, and warn about a password given on
 * the command line and about --tls-insecure. Returns 0 or LB_EXIT_USAGE (nothing opened). */
int lb_common_start(const struct lb_common *c, const struct lb_cli *cli);

#endif
