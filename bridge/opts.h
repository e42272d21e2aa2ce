/*
 * opts.h - one table per command: its options, their checks, its --help and
 * its config keys, from one place.
 *
 * Each command describes its options once, as an array of struct lb_opt:
 * the long name, the kind of argument, where the value goes (an offset in
 * the command's options struct), what a good value is, and the help line.
 * From that table:
 *  - lb_opts_parse runs getopt over argv, stores each value, and names a bad
 *    one the way the operator wrote it: "--batch: expected a number from 1 to
 *    100000, got 'x'" on the command line, "tail[0].batch: ..." for a `run`
 *    config entry (struct lb_cli); unknown options and missing values print
 *    "Try 'logbridge CMD --help'." (command line only); exit code 2;
 *  - lb_opts_usage prints --help: the command's lines, then the common
 *    options (struct lb_common), each "--name META  help";
 *  - config.c finds a config key (the long name with '-' -> '_') in the same
 *    tables (lb_opts_find), takes its JSON type from the kind, and sets a
 *    top-level value through the same checks (lb_opts_set).
 *
 * The options every command shares (--redis, --format, --log-level, ...) are
 * one table here, with offsets into struct lb_common; a command's options
 * struct embeds a struct lb_common at spec->common_off.
 */
#ifndef LB_OPTS_H
#define LB_OPTS_H

#include <stddef.h>
#include <stdio.h>

#include "cli.h"

enum lb_arg {
    LB_ARG_FLAG,   /* no argument: *(int *)target = ival */
    LB_ARG_STR,    /* a non-empty string: *(const char **)target = arg (not copied) */
    LB_ARG_CHOICE, /* one of choices ("pipe|jsonl"): *(int *)target = its index */
    LB_ARG_INT,    /* an integer from min to max: *(long long *)target */
    LB_ARG_SIZE,   /* an integer from min to max: *(size_t *)target */
    LB_ARG_DOUBLE, /* a finite number from min to max: *(double *)target */
    LB_ARG_SET,    /* judged and stored by set(), which gets the whole options struct */
    LB_ARG_STREAMS /* a --stream value of a reader (repeatable, a template allowed): added to
                    * *(struct lb_streams *)target (stream_set.h) */
};

enum {
    LB_OPTF_REQUIRED = 1, /* "--stream: is required" when absent */
    LB_OPTF_PROCESS = 2,  /* belongs to the process: a config sets it at its top level only */
    LB_OPTF_INPUT = 4,    /* how lines become entries: a config entry of a job with
                           * spec->input sets it (tail), others cannot (mirror) */
    LB_OPTF_REPEAT = 8,   /* may be repeated: a config value may be an array of strings */
    LB_OPTF_NUMOK = 16,   /* a config value may be a JSON number ("from": 0) */
    LB_OPTF_SERVE = 32    /* only for the commands that run as a service (spec->serve:
                           * tail, mirror; run's config top level) */
};

/* set() stores arg into the options struct base, or returns -1 with a whole
 * message in why (without the option's name). */
typedef int (*lb_opt_set_fn)(void *base, const char *arg, char *why, size_t cap);

struct lb_opt {
    const char *name; /* the long option; the config key is this with '-' -> '_' */
    enum lb_arg kind;
    size_t off;          /* where the value goes, in the struct the table is for */
    const char *what;    /* a good value, for "expected WHAT, got 'x'" */
    const char *meta;    /* --help: the argument ("N", "auto|ts"); NULL for a flag */
    const char *help;    /* --help: the text ('\n' continues it); NULL: not listed */
    const char *label;   /* --help: the left column instead of "--name META" */
    const char *choices; /* LB_ARG_CHOICE: "a|b|c" */
    long long min, max;  /* LB_ARG_INT, LB_ARG_SIZE, LB_ARG_DOUBLE */
    int ival;            /* LB_ARG_FLAG: the value stored */
    lb_opt_set_fn set;   /* LB_ARG_SET */
    unsigned flags;      /* LB_OPTF_* */
};

/* Table rows. T is the options struct, m the member the value goes to. */
#define LB_OPT_STR(n, T, m, what_, meta_, help_, fl)                                               \
    {                                                                                              \
        .name = n, .kind = LB_ARG_STR, .off = offsetof(T, m), .what = what_, .meta = meta_,        \
        .help = help_, .flags = fl                                                                 \
    }
#define LB_OPT_FLAG(n, T, m, v, help_, fl)                                                         \
    {                                                                                              \
        .name = n, .kind = LB_ARG_FLAG, .off = offsetof(T, m), .ival = v, .help = help_,           \
        .flags = fl                                                                                \
    }
#define LB_OPT_CHOICE(n, T, m, choices_, meta_, help_, fl)                                         \
    {                                                                                              \
        .name = n, .kind = LB_ARG_CHOICE, .off = offsetof(T, m), .choices = choices_,              \
        .meta = meta_, .help = help_, .flags = fl                                                  \
    }
#define LB_OPT_NUM(n, kind_, T, m, lo, hi, what_, meta_, help_, fl)                                \
    {                                                                                              \
        .name = n, .kind = kind_, .off = offsetof(T, m), .min = lo, .max = hi, .what = what_,      \
        .meta = meta_, .help = help_, .flags = fl                                                  \
    }
#define LB_OPT_SET(n, fn, what_, meta_, help_, fl)                                                 \
    {                                                                                              \
        .name = n, .kind = LB_ARG_SET, .set = fn, .what = what_, .meta = meta_, .help = help_,     \
        .flags = fl                                                                                \
    }
#define LB_OPT_STREAMS(n, T, m, help_, fl)                                                         \
    {                                                                                              \
        .name = n, .kind = LB_ARG_STREAMS, .off = offsetof(T, m), .meta = "S", .help = help_,      \
        .flags = (fl) | LB_OPTF_REPEAT                                                             \
    }
#define LB_OPT_END                                                                                 \
    {                                                                                              \
        .name = NULL                                                                               \
    }

#define LB_OPTS_NO_COMMON ((size_t)-1)

/* One command's options. */
struct lb_optspec {
    const char *usage;         /* --help: the lines before the options */
    const struct lb_opt *opts; /* the command's own options, LB_OPT_END last; a name that is
                                * also a common option replaces the common one */
    const char *footer;        /* --help: text right after the command's options, or NULL */
    size_t common_off;         /* offsetof(T, c), or LB_OPTS_NO_COMMON (run) */
    int operands;              /* 0: an argument that is not an option is an error */
    int input;                 /* a config entry of this job may set the LB_OPTF_INPUT options */
    int serve;                 /* the command takes the LB_OPTF_SERVE options */
};

/* The options every command shares; offsets are into struct lb_common. */
extern const struct lb_opt lb_common_opts[];

/*
 * Parse argv (argv[0] = the command) into o, the command's options struct,
 * whose defaults the caller has set. Options that the table marks required
 * are checked; operands are left at argv[*first_operand ...] (spec->operands;
 * without operands, one is an error). Errors are printed, naming the option
 * as cli says. Returns 0, -1 after printing --help or --version (the command
 * exits 0), or LB_EXIT_USAGE. Uses getopt: not thread-safe.
 */
int lb_opts_parse(const struct lb_optspec *spec, void *o, int argc, char **argv,
                  const struct lb_cli *cli, int *first_operand);

/* Print the --help of spec on out. */
void lb_opts_usage(const struct lb_optspec *spec, FILE *out);

/* The option whose config key is key ('_' for '-'), in spec's own table,
 * then (*common = 1) in the common table, or NULL. spec NULL: common only. */
const struct lb_opt *lb_opts_find(const struct lb_optspec *spec, const char *key, int *common);

/* Judge and store arg for option e into base (the struct e's table is for):
 * 0, or -1 with why = the message without the option's name. */
int lb_opts_set(const struct lb_opt *e, void *base, const char *arg, char *why, size_t cap);

/* The option (as_key: config key) of spec (own, then common ones it takes;
 * spec NULL: common only) or of extra (NULL-terminated names, may be NULL)
 * nearest to word, when near enough to be a typo of it: 1 with out set, else
 * 0. For "did you mean" hints. */
int lb_opts_nearest(const struct lb_optspec *spec, const char *word, int as_key,
                    const char *const *extra, char *out, size_t cap);

/* The config key of e ('-' -> '_') in out. */
const char *lb_opts_key(const struct lb_opt *e, char *out, size_t cap);

#endif
