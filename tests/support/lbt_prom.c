/*
 * lbt_prom.c - see lbt_prom.h. A line-by-line parser that refuses anything
 * the text format does not allow, and reports the first problem by line.
 */
#include "lbt_prom.h"
#include "lbtest.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int lbt_prom_fail(struct lbt_prom *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int lbt_prom_fail(struct lbt_prom *p, int line, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(p->err, sizeof(p->err), "line %d: %s", line, msg);
    return -1;
}

static int lbt_is_name_start(int c, int colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

static int lbt_is_name_char(int c, int colon)
{
    return lbt_is_name_start(c, colon) || (c >= '0' && c <= '9');
}

/* Read a metric (colon = 1) or label name at *s into out; advances *s. */
static int lbt_read_name(const char **s, char *out, size_t cap, int colon)
{
    const char *q = *s;
    if (!lbt_is_name_start((unsigned char)*q, colon))
        return -1;
    size_t n = 0;
    while (lbt_is_name_char((unsigned char)*q, colon)) {
        if (n + 1 >= cap)
            return -1;
        out[n++] = *q++;
    }
    out[n] = '\0';
    *s = q;
    return 0;
}

static int lbt_read_value(const char *s, double *v, const char **end)
{
    if (strncmp(s, "+Inf", 4) == 0) {
        *v = INFINITY;
        *end = s + 4;
        return 0;
    }
    if (strncmp(s, "-Inf", 4) == 0) {
        *v = -INFINITY;
        *end = s + 4;
        return 0;
    }
    if (strncmp(s, "NaN", 3) == 0) {
        *v = NAN;
        *end = s + 3;
        return 0;
    }
    char *e;
    *v = strtod(s, &e);
    if (e == s)
        return -1;
    /* strtod also takes "inf", "nan" and hex: the format does not */
    for (const char *q = s; q < e; q++)
        if (!strchr("0123456789.eE+-", *q))
            return -1;
    *end = e;
    return 0;
}

static const struct lbt_prom_type *lbt_type_of(const struct lbt_prom *p, const char *name)
{
    for (size_t i = 0; i < p->nt; i++)
        if (strcmp(p->t[i].name, name) == 0)
            return &p->t[i];
    return NULL;
}

const char *lbt_prom_kind(const struct lbt_prom *p, const char *family)
{
    const struct lbt_prom_type *t = lbt_type_of(p, family);
    return t ? t->kind : NULL;
}

/* The family a sample name belongs to: itself, or a histogram/summary's
 * base for _bucket/_sum/_count. */
static const struct lbt_prom_type *lbt_family(const struct lbt_prom *p, const char *name)
{
    const struct lbt_prom_type *t = lbt_type_of(p, name);
    if (t != NULL && strcmp(t->kind, "histogram") != 0)
        return t;
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    size_t len = strlen(name);
    for (int i = 0; i < 3; i++) {
        size_t sl = strlen(sfx[i]);
        if (len > sl && strcmp(name + len - sl, sfx[i]) == 0) {
            char base[160];
            snprintf(base, sizeof(base), "%.*s", (int)(len - sl), name);
            const struct lbt_prom_type *b = lbt_type_of(p, base);
            if (b != NULL &&
                (strcmp(b->kind, "histogram") == 0 || (strcmp(b->kind, "summary") == 0 && i > 0)))
                return b;
        }
    }
    return NULL;
}

static int lbt_sample(struct lbt_prom *p, int ln, const char *s, char *last_family,
                      char (*closed)[160], size_t *nclosed)
{
    struct lbt_prom_sample x;
    memset(&x, 0, sizeof(x));
    if (lbt_read_name(&s, x.name, sizeof(x.name), 1) != 0)
        return lbt_prom_fail(p, ln, "bad metric name");
    const struct lbt_prom_type *fam = lbt_family(p, x.name);
    if (fam == NULL)
        return lbt_prom_fail(p, ln, "sample %s has no # TYPE before it", x.name);
    snprintf(x.family, sizeof(x.family), "%s", fam->name);
    int has_le = 0;
    size_t lo = 0;
    if (*s == '{') {
        s++;
        while (*s != '}') {
            char lname[160];
            if (lbt_read_name(&s, lname, sizeof(lname), 0) != 0)
                return lbt_prom_fail(p, ln, "bad label name in %s", x.name);
            if (*s++ != '=' || *s++ != '"')
                return lbt_prom_fail(p, ln, "expected =\" after label %s", lname);
            has_le |= strcmp(lname, "le") == 0;
            int w =
                snprintf(x.labels + lo, sizeof(x.labels) - lo, "%s%s=", lo ? "\x1f" : "", lname);
            lo += (size_t)w;
            for (;;) {
                char c = *s++;
                if (c == '\0' || c == '\n')
                    return lbt_prom_fail(p, ln, "unterminated value of label %s", lname);
                if (c == '"')
                    break;
                if (c == '\\') {
                    char e = *s++;
                    if (e == 'n')
                        c = '\n';
                    else if (e == '\\' || e == '"')
                        c = e;
                    else
                        return lbt_prom_fail(p, ln, "bad escape \\%c in label %s", e, lname);
                }
                if (lo + 2 >= sizeof(x.labels))
                    return lbt_prom_fail(p, ln, "labels too long");
                x.labels[lo++] = c;
            }
            x.labels[lo] = '\0';
            if (*s == ',')
                s++;
            else if (*s != '}')
                return lbt_prom_fail(p, ln, "expected , or } after label %s", lname);
        }
        s++;
    }
    if (*s != ' ')
        return lbt_prom_fail(p, ln, "expected a space before the value of %s", x.name);
    while (*s == ' ')
        s++;
    const char *end;
    if (lbt_read_value(s, &x.value, &end) != 0)
        return lbt_prom_fail(p, ln, "bad value '%s' of %s", s, x.name);
    s = end;
    if (*s == ' ') {
        while (*s == ' ')
            s++;
        char *e;
        strtoll(s, &e, 10);
        if (e == s)
            return lbt_prom_fail(p, ln, "bad timestamp of %s", x.name);
        s = e;
    }
    if (*s != '\0')
        return lbt_prom_fail(p, ln, "trailing text after the value of %s", x.name);
    size_t nl = strlen(x.name);
    if (strcmp(fam->kind, "histogram") == 0 && nl > 7 && strcmp(x.name + nl - 7, "_bucket") == 0 &&
        !has_le)
        return lbt_prom_fail(p, ln, "histogram bucket %s without le", x.name);
    /* the samples of a family are one group */
    if (strcmp(last_family, fam->name) != 0) {
        for (size_t i = 0; i < *nclosed; i++)
            if (strcmp(closed[i], fam->name) == 0)
                return lbt_prom_fail(p, ln, "samples of %s are not contiguous", fam->name);
        if (last_family[0] != '\0')
            snprintf(closed[(*nclosed)++], 160, "%s", last_family);
        snprintf(last_family, 160, "%s", fam->name);
    }
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->s[i].name, x.name) == 0 && strcmp(p->s[i].labels, x.labels) == 0)
            return lbt_prom_fail(p, ln, "duplicate series %s{%s}", x.name, x.labels);
    struct lbt_prom_sample *ns = realloc(p->s, (p->n + 1) * sizeof(*ns));
    if (ns == NULL)
        return lbt_prom_fail(p, ln, "out of memory");
    p->s = ns;
    p->s[p->n++] = x;
    return 0;
}

/* "# HELP name docstring": a good name, seen once, the docstring escaped
 * only as \\ and \n. */
static int lbt_help(struct lbt_prom *p, int ln, const char *line)
{
    const char *q = line + 7;
    char name[160];
    if (lbt_read_name(&q, name, sizeof(name), 1) != 0 || (*q != ' ' && *q != '\0'))
        return lbt_prom_fail(p, ln, "bad # HELP line");
    for (size_t i = 0; i < p->nhelp; i++)
        if (strcmp(p->help[i], name) == 0)
            return lbt_prom_fail(p, ln, "second # HELP for %s", name);
    for (; *q != '\0'; q++)
        if (*q == '\\' && q[1] != '\\' && q[1] != 'n')
            return lbt_prom_fail(p, ln, "bad escape in the # HELP of %s", name);
        else if (*q == '\\')
            q++;
    char(*nh)[160] = realloc(p->help, (p->nhelp + 1) * sizeof(*nh));
    if (nh == NULL)
        return lbt_prom_fail(p, ln, "out of memory");
    p->help = nh;
    snprintf(p->help[p->nhelp++], 160, "%s", name);
    return 0;
}

static int lbt_has_help(const struct lbt_prom *p, const char *name)
{
    for (size_t i = 0; i < p->nhelp; i++)
        if (strcmp(p->help[i], name) == 0)
            return 1;
    return 0;
}

static int lbt_prom_parse_mode(const char *text, struct lbt_prom *p, int strict);

int lbt_prom_parse(const char *text, struct lbt_prom *p)
{
    return lbt_prom_parse_mode(text, p, 0);
}

int lbt_prom_parse_strict(const char *text, struct lbt_prom *p)
{
    int rc = lbt_prom_parse_mode(text, p, 1);
    for (size_t i = 0; rc == 0 && i < p->nt; i++)
        if (!lbt_has_help(p, p->t[i].name))
            rc = lbt_prom_fail(p, 0, "family %s has no # HELP", p->t[i].name);
    for (size_t i = 0; rc == 0 && i < p->nhelp; i++)
        if (lbt_type_of(p, p->help[i]) == NULL)
            rc = lbt_prom_fail(p, 0, "# HELP %s names no family with a # TYPE", p->help[i]);
    return rc;
}

static int lbt_prom_parse_mode(const char *text, struct lbt_prom *p, int strict)
{
    memset(p, 0, sizeof(*p));
    size_t cap_closed = 1;
    for (const char *q = text; *q; q++)
        cap_closed += *q == '\n';
    char(*closed)[160] = calloc(cap_closed, 160);
    size_t nclosed = 0;
    char last_family[160] = "";
    int ln = 0, rc = 0;
    const char *s = text;
    if (closed == NULL)
        return lbt_prom_fail(p, 0, "out of memory");
    if (*s != '\0' && text[strlen(text) - 1] != '\n')
        rc = lbt_prom_fail(p, 0, "the text does not end with a newline");
    while (rc == 0 && *s != '\0') {
        ln++;
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        char *line = malloc(len + 1);
        if (line == NULL) {
            rc = lbt_prom_fail(p, ln, "out of memory");
            break;
        }
        memcpy(line, s, len);
        line[len] = '\0';
        s += len + (nl != NULL);
        if (len == 0) {
            /* empty lines are allowed */
        } else if (strncmp(line, "# TYPE ", 7) == 0) {
            const char *q = line + 7;
            struct lbt_prom_type t;
            if (lbt_read_name(&q, t.name, sizeof(t.name), 1) != 0 || *q++ != ' ')
                rc = lbt_prom_fail(p, ln, "bad # TYPE line");
            else if (strcmp(q, "counter") && strcmp(q, "gauge") && strcmp(q, "histogram") &&
                     strcmp(q, "summary") && strcmp(q, "untyped"))
                rc = lbt_prom_fail(p, ln, "unknown metric type '%s'", q);
            else if (lbt_type_of(p, t.name) != NULL)
                rc = lbt_prom_fail(p, ln, "second # TYPE for %s", t.name);
            else {
                for (size_t i = 0; i < p->n && rc == 0; i++)
                    if (strcmp(p->s[i].family, t.name) == 0 || strcmp(p->s[i].name, t.name) == 0)
                        rc = lbt_prom_fail(p, ln, "# TYPE %s after its samples", t.name);
                snprintf(t.kind, sizeof(t.kind), "%s", q);
                struct lbt_prom_type *nt = realloc(p->t, (p->nt + 1) * sizeof(*nt));
                if (rc == 0 && nt == NULL)
                    rc = lbt_prom_fail(p, ln, "out of memory");
                if (nt != NULL) {
                    p->t = nt;
                    p->t[p->nt++] = t;
                }
            }
        } else if (strncmp(line, "# HELP ", 7) == 0) {
            if (strict)
                rc = lbt_help(p, ln, line);
        } else if (line[0] == '#') {
            /* other comments */
        } else {
            rc = lbt_sample(p, ln, line, last_family, closed, &nclosed);
        }
        free(line);
    }
    free(closed);
    return rc;
}

void lbt_prom_free(struct lbt_prom *p)
{
    free(p->s);
    free(p->t);
    free(p->help);
    p->s = NULL;
    p->t = NULL;
    p->help = NULL;
    p->n = p->nt = p->nhelp = 0;
}

/* Is every k=v pair of want in have, and the counts equal? */
static int lbt_labels_equal(const char *have, const char *const *kv, int npairs)
{
    int count = have[0] ? 1 : 0;
    for (const char *q = have; *q; q++)
        count += *q == '\x1f';
    if (count != npairs)
        return 0;
    for (int i = 0; i < npairs; i++) {
        char want[2200];
        snprintf(want, sizeof(want), "%s=%s", kv[2 * i], kv[2 * i + 1]);
        size_t wl = strlen(want);
        int found = 0;
        for (const char *q = have; *q && !found;) {
            const char *e = strchr(q, '\x1f');
            size_t l = e ? (size_t)(e - q) : strlen(q);
            found = l == wl && memcmp(q, want, wl) == 0;
            q += l + (e != NULL);
        }
        if (!found)
            return 0;
    }
    return 1;
}

const struct lbt_prom_sample *lbt_prom_find(const struct lbt_prom *p, const char *name, ...)
{
    const char *kv[32];
    int n = 0;
    va_list ap;
    va_start(ap, name);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (k == NULL || n >= 30)
            break;
        kv[n++] = k;
        kv[n++] = va_arg(ap, const char *);
    }
    va_end(ap);
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->s[i].name, name) == 0 && lbt_labels_equal(p->s[i].labels, kv, n / 2))
            return &p->s[i];
    return NULL;
}

double lbt_prom_file_sum(const char *path, const char *name, char *why, size_t cap)
{
    size_t n;
    char *text = lbt_read_file(path, &n);
    if (text == NULL) {
        snprintf(why, cap, "no metrics file %s", path);
        return -2;
    }
    struct lbt_prom p;
    if (lbt_prom_parse(text, &p) != 0) {
        snprintf(why, cap, "metrics file %s does not parse: %s", path, p.err);
        free(text);
        return -2;
    }
    double sum = -1;
    for (size_t i = 0; i < p.n; i++)
        if (strcmp(p.s[i].name, name) == 0)
            sum = (sum < 0 ? 0 : sum) + p.s[i].value;
    lbt_prom_free(&p);
    free(text);
    return sum;
}
