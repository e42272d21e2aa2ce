/*
 * lbt_prom.h - a strict checker for the Prometheus text exposition format
 * (version 0.0.4), as node_exporter's textfile collector reads it, for the
 * tests of metrics.c and of `run --metrics-file`.
 *
 * Accepted lines: empty; `# HELP name text`; `# TYPE name kind` (kind
 * counter|gauge|histogram|summary|untyped, at most once per name, before its
 * samples); other `#` comments; samples `name{label="value",...} value
 * [timestamp]` with metric and label names of the allowed characters, label
 * values escaped only as \\ \" \n, a float value (+Inf, -Inf, NaN too).
 * Every sample must belong to a family declared by # TYPE (a histogram owns
 * name_bucket / name_sum / name_count; buckets need le), and the samples of
 * one family must be contiguous.
 */
#ifndef LBT_PROM_H
#define LBT_PROM_H

#include <stddef.h>

struct lbt_prom_sample {
    char name[160];
    char family[160];
    char labels[2048]; /* unescaped: k=v pairs joined by '\x1f', in file order */
    double value;
};

struct lbt_prom_type {
    char name[160];
    char kind[16];
};

struct lbt_prom {
    struct lbt_prom_sample *s;
    size_t n;
    struct lbt_prom_type *t;
    size_t nt;
    char (*help)[160]; /* the names that have a # HELP line */
    size_t nhelp;
    char err[512]; /* "line N: what is wrong" after a failed parse */
};

/* Parse text. Returns 0, or -1 with p->err set. Free with lbt_prom_free. */
int lbt_prom_parse(const char *text, struct lbt_prom *p);
/* The same, and every family has exactly one # HELP line (docstring escaped
 * only as \\ and \n) and every # HELP names a family with a # TYPE, as DESIGN.md
 * section 5 promises. */
int lbt_prom_parse_strict(const char *text, struct lbt_prom *p);
void lbt_prom_free(struct lbt_prom *p);

/* The sample of name whose labels are exactly the given (key, value) pairs
 * (NULL-terminated, values unescaped, any order), or NULL. */
const struct lbt_prom_sample *lbt_prom_find(const struct lbt_prom *p, const char *name, ...);

/* The sum of the samples named name in the metrics file at path: -1 when
 * there are none, -2 when the file cannot be read or does not parse (why
 * says which). */
double lbt_prom_file_sum(const char *path, const char *name, char *why, size_t cap);

/* The # TYPE kind of a family, or NULL. */
const char *lbt_prom_kind(const struct lbt_prom *p, const char *family);

#endif
