/*
 * cli.h - options shared by every command, and usage errors.
 *
 * A job's options can come from the command line or from a `run` config
 * entry; errors name the option the way the operator wrote it: `--maxlen` on
 * the command line, `tail[0].maxlen` in a config (DESIGN.md section 4.8).
 */
#ifndef LB_CLI_H
#define LB_CLI_H

#include <getopt.h>
#include <stddef.h>

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
    int jsonl;
    int json_encoding;
    const char *json_field;
    int provenance;
    enum lb_log_level log_level;
    int log_json;
    const char *metrics_file;
    const char *log_file;
    size_t max_line;
};

/* Where options come from: prefix NULL = the command line. */
struct lb_cli {
    const char *cmd;    /* "import", ... */
    const char *prefix; /* "tail[0]" for a config entry */
};

enum {
    LB_OPT_REDIS = 1000,
    LB_OPT_FORMAT,
    LB_OPT_ENCODING,
    LB_OPT_JSON_FIELD,
    LB_OPT_NO_PROVENANCE,
    LB_OPT_LOG_LEVEL,
    LB_OPT_LOG_FORMAT,
    LB_OPT_METRICS_FILE,
    LB_OPT_LOG_FILE,
    LB_OPT_MAX_LINE,
    LB_OPT_HELP,
    LB_OPT_VERSION,
    LB_OPT_FIRST_JOB /* job options number from here */
};

#define LB_COMMON_LONGOPTS                                                                         \
    {"redis", required_argument, NULL, LB_OPT_REDIS},                                              \
        {"format", required_argument, NULL, LB_OPT_FORMAT},                                        \
        {"encoding", required_argument, NULL, LB_OPT_ENCODING},                                    \
        {"json-field", required_argument, NULL, LB_OPT_JSON_FIELD},                                \
        {"no-provenance", no_argument, NULL, LB_OPT_NO_PROVENANCE},                                \
        {"log-level", required_argument, NULL, LB_OPT_LOG_LEVEL},                                  \
        {"log-format", required_argument, NULL, LB_OPT_LOG_FORMAT},                                \
        {"metrics-file", required_argument, NULL, LB_OPT_METRICS_FILE},                            \
        {"log-file", required_argument, NULL, LB_OPT_LOG_FILE},                                    \
        {"max-line", required_argument, NULL, LB_OPT_MAX_LINE},                                    \
        {"help", no_argument, NULL, LB_OPT_HELP},                                                  \
    {                                                                                              \
        "version", no_argument, NULL, LB_OPT_VERSION                                               \
    }

#define LB_COMMON_HELP                                                                             \
    "Common options:\n"                                                                            \
    "  --redis URL          redis://[user[:password]@]host[:port][/db] or\n"                       \
    "                       unix:///path/redis.sock[?db=N] (env LOGBRIDGE_REDIS;\n"                \
    "                       password preferably in env LOGBRIDGE_REDIS_PASSWORD)\n"                \
    "  --format pipe|jsonl  input line format (default pipe)\n"                                    \
    "  --encoding fields|json  stream entry layout (default fields)\n"                             \
    "  --json-field NAME    field of the json encoding (default json_payload)\n"                   \
    "  --no-provenance      leave out the src and off fields\n"                                    \
    "  --max-line N         longest valid line in bytes (default 1048576)\n"                       \
    "  --log-level L        error|warn|info|debug (default info)\n"                                \
    "  --log-format F       text|json (default text)\n"                                            \
    "  --log-file PATH      log here instead of stderr (SIGHUP reopens it)\n"                      \
    "  --metrics-file PATH  Prometheus text metrics, rewritten every 5 s and at exit\n"            \
    "  -h, --help           this help;  --version  the version\n"

void lb_common_defaults(struct lb_common *c);

/* Handle a common option. Returns 1 when handled, 0 when id is not a common
 * option, or -1 after printing a usage error. --help and --version are left
 * to the caller (they return 0). */
int lb_common_option(struct lb_common *c, int id, const char *arg, const struct lb_cli *cli);

/* What every command's option loop does first: a common option, --help
 * (usage on stdout) and --version. Returns LB_CLI_MINE when id is the
 * command's own option, LB_CLI_NEXT when it was handled here, LB_CLI_DONE
 * after --help or --version (the command exits 0), LB_CLI_BAD after printing
 * a usage error (exit 2). */
enum { LB_CLI_MINE = 0, LB_CLI_NEXT, LB_CLI_DONE, LB_CLI_BAD };
int lb_cli_common(struct lb_common *c, int id, const char *arg, const struct lb_cli *cli,
                  const char *usage);

/* Print "logbridge CMD: --opt: message" (or "tail[0].opt: message") on
 * stderr and return LB_EXIT_USAGE. opt is the long option name. */
int lb_cli_error(const struct lb_cli *cli, const char *opt, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Strict integer parsing: the whole string, min..max. Returns 0 or -1. */
int lb_parse_ll(const char *s, long long min, long long max, long long *out);
int lb_parse_double(const char *s, double min, double max, double *out);

/* The long name of option id in opts (for messages), or "?". */
const char *lb_opt_name(const struct option *opts, int id);

/* Check the Redis URL wherever it came from (LOGBRIDGE_REDIS is read by
 * lb_common_defaults without a check, and a user without a password depends
 * on the environment): returns 0, or LB_EXIT_USAGE after printing the error
 * naming the URL's origin. */
int lb_common_check_redis(const struct lb_common *c, const struct lb_cli *cli);

/* What every command does after parsing its options: check the Redis URL,
 * open the log as the options say, and warn about a password given on the
 * command line. Returns 0 or LB_EXIT_USAGE (nothing opened). */
int lb_common_start(const struct lb_common *c, const struct lb_cli *cli);

/* Start an option loop over a new argv: every command calls this right
 * before its lb_getopt loop. It is the one place getopt is reset, and the
 * reset is optind = 0 (glibc's full re-initialisation): optind = 1 keeps
 * getopt's position inside a short-option cluster, so after a parse that
 * stopped early ("-hx": --help) the next parse would read the stale "x". */
void lb_getopt_begin(void);

/* getopt_long wrapper: prints "unknown option"/"missing argument" errors in
 * our form. Returns the option id, -1 at the end, or '?' after an error. */
int lb_getopt(int argc, char **argv, const struct option *opts, const struct lb_cli *cli);

#endif
