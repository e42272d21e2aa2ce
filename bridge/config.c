/*
 * config.c - the JSON config of `run` / `check-config`: shape checks and the
 * translation of each job entry into its job's argv (see config.h).
 *
 * The values of job options are judged by the jobs' own option parsers
 * (lb_tail_opts_parse, lb_mirror_opts_parse) with the entry's name as prefix,
 * so that "maxlen": 0 and --maxlen 0 get the same message. This file judges
 * what a command line cannot express: JSON syntax, unknown or duplicate keys,
 * value types, required keys, top-level common options, and two mistakes
 * that only show in a whole config (two mirrors writing one file; a mirror
 * file that a tail route reads back into the mirrored stream without loop
 * prevention).
 */
#include "config.h"

#include "checkpoint.h"
#include "mirror.h"
#include "opts.h"
#include "redis.h"
#include "tail.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the keys ----------------------------------------------------------------- */

/* Keys are the long options of the tables in opts.h ('-' -> '_'); the JSON
 * type a key takes follows from its option's kind. */
enum lb_ktype {
    LB_K_STR,    /* a string */
    LB_K_STRNUM, /* a string or a number ("from": 0) */
    LB_K_NUM,    /* a number, or a string that the job's parser will judge */
    LB_K_BOOL,   /* true -> --flag; false -> nothing */
    LB_K_STRS,   /* a string or an array of strings -> the option repeated */
    LB_K_PATHS,  /* a non-empty array of strings -> positional arguments */
    LB_K_JOBS    /* "tail", "mirror": arrays of entries */
};

struct lb_key {
    enum lb_ktype type;
    const struct lb_opt *opt; /* NULL for paths and the job arrays */
};

static enum lb_ktype lb_key_type(const struct lb_opt *e)
{
    if (e->flags & LB_OPTF_REPEAT)
        return LB_K_STRS;
    if (e->flags & LB_OPTF_NUMOK)
        return LB_K_STRNUM;
    switch (e->kind) {
    case LB_ARG_FLAG:
        return LB_K_BOOL;
    case LB_ARG_INT:
    case LB_ARG_SIZE:
    case LB_ARG_DOUBLE:
        return LB_K_NUM;
    default:
        return LB_K_STR;
    }
}

/* A key of the top level: the common options and the two job arrays. */
static int lb_key_top(const char *name, struct lb_key *k)
{
    int common;
    k->opt = NULL;
    k->type = LB_K_JOBS;
    if (strcmp(name, "tail") == 0 || strcmp(name, "mirror") == 0)
        return 1;
    if ((k->opt = lb_opts_find(NULL, name, &common)) == NULL)
        return 0;
    k->type = lb_key_type(k->opt);
    return 1;
}

enum { LB_KEY_UNKNOWN, LB_KEY_PROCESS, LB_KEY_OK };

/* A key of a tail or mirror entry: the job's own options and the common
 * ones that are the job's (the log and metrics options belong to the
 * process; the input options only to a job that reads lines). */
static int lb_key_job(enum lb_config_kind kind, const char *name, struct lb_key *k)
{
    k->opt = NULL;
    k->type = LB_K_PATHS;
    if (kind == LB_CONFIG_TAIL && strcmp(name, "paths") == 0)
        return LB_KEY_OK; /* tail's operands */
    const struct lb_optspec *spec = kind == LB_CONFIG_TAIL ? &lb_tail_optspec : &lb_mirror_optspec;
    int common;
    const struct lb_opt *e = lb_opts_find(spec, name, &common);
    if (e == NULL || (common && (e->flags & LB_OPTF_INPUT) && !spec->input))
        return LB_KEY_UNKNOWN;
    if (common && (e->flags & LB_OPTF_PROCESS))
        return LB_KEY_PROCESS;
    k->opt = e;
    k->type = lb_key_type(e);
    return LB_KEY_OK;
}

/* " (did you mean 'paths'?)" for a key that is a typo of a key of spec (NULL:
 * the top level), else "". */
static void lb_config_hint(const struct lb_optspec *spec, const char *key, char *out, size_t cap)
{
    static const char *const top[] = {"tail", "mirror", NULL};
    static const char *const tail[] = {"paths", NULL};
    const char *const *extra = spec == NULL ? top : spec == &lb_tail_optspec ? tail : NULL;
    char near[64];
    out[0] = '\0';
    if (lb_opts_nearest(spec, key, 1, extra, near, sizeof(near)))
        snprintf(out, cap, " (did you mean '%s'?)", near);
}

/* ---- owned strings ---------------------------------------------------------------- */

static char *lb_config_keep(struct lb_config *cfg, char *s)
{
    if (s == NULL)
        return NULL;
    if (cfg->nstrs == cfg->capstrs) {
        size_t cap = cfg->capstrs ? cfg->capstrs * 2 : 64;
        char **p = realloc(cfg->strs, cap * sizeof(*p));
        if (p == NULL) {
            free(s);
            return NULL;
        }
        cfg->strs = p;
        cfg->capstrs = cap;
    }
    cfg->strs[cfg->nstrs++] = s;
    return s;
}

static char *lb_config_printf(struct lb_config *cfg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static char *lb_config_printf(struct lb_config *cfg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : lb_config_keep(cfg, s);
}

void lb_config_destroy(struct lb_config *cfg)
{
    if (cfg == NULL)
        return;
    for (int i = 0; i < cfg->njobs; i++)
        free(cfg->jobs[i].argv);
    free(cfg->jobs);
    for (size_t i = 0; i < cfg->nstrs; i++)
        free(cfg->strs[i]);
    free(cfg->strs);
    free(cfg);
}

/* ---- values ------------------------------------------------------------------------ */

/* A JSON number as an option value: integers without a fraction or exponent,
 * so that the job's integer parsers accept 100000 (cJSON keeps a double). */
static void lb_config_num(const cJSON *v, char *out, size_t cap)
{
    double d = v->valuedouble;
    if (d == floor(d) && fabs(d) < 1e15)
        snprintf(out, cap, "%.0f", d);
    else
        snprintf(out, cap, "%.17g", d);
}

/* Check the JSON type of value v of key k. Returns NULL when it fits, else
 * what was expected. */
static const char *lb_config_type_error(enum lb_ktype type, const cJSON *v)
{
    switch (type) {
    case LB_K_STR:
        return cJSON_IsString(v) ? NULL : "expected a string";
    case LB_K_STRNUM:
        return cJSON_IsString(v) || cJSON_IsNumber(v) ? NULL : "expected a string or a number";
    case LB_K_NUM:
        return cJSON_IsString(v) || cJSON_IsNumber(v) ? NULL : "expected a number";
    case LB_K_BOOL:
        return cJSON_IsBool(v) ? NULL : "expected true or false";
    case LB_K_STRS:
        if (cJSON_IsString(v))
            return NULL;
        if (!cJSON_IsArray(v))
            return "expected a string or an array of strings";
        for (const cJSON *x = v->child; x != NULL; x = x->next)
            if (!cJSON_IsString(x))
                return "expected a string or an array of strings";
        return NULL;
    case LB_K_PATHS:
        if (!cJSON_IsArray(v) || v->child == NULL)
            return "expected a non-empty array of paths or globs";
        for (const cJSON *x = v->child; x != NULL; x = x->next)
            if (!cJSON_IsString(x) || x->valuestring[0] == '\0')
                return "expected a non-empty array of paths or globs (strings)";
        return NULL;
    case LB_K_JOBS:
        if (!cJSON_IsArray(v))
            return "expected an array of job objects";
        return NULL;
    }
    return "unexpected type";
}

/* The text of a scalar value (string or number) in buf. */
static const char *lb_config_scalar(const cJSON *v, char *buf, size_t cap)
{
    if (cJSON_IsString(v))
        return v->valuestring;
    lb_config_num(v, buf, cap);
    return buf;
}

static int lb_config_dup_key(const cJSON *obj, const cJSON *item)
{
    for (const cJSON *x = obj->child; x != NULL && x != item; x = x->next)
        if (strcmp(x->string, item->string) == 0)
            return 1;
    return 0;
}

/* ---- the top level ------------------------------------------------------------------ */

/* A top-level common option, judged by its option's own check. */
static int lb_config_top_value(struct lb_config *cfg, const struct lb_opt *e, const cJSON *v,
                               struct lb_error *err)
{
    char num[64], why[400];
    if (e->kind == LB_ARG_FLAG && !cJSON_IsTrue(v))
        return 0; /* false: the default, as the flag left out */
    const char *s = e->kind == LB_ARG_FLAG ? "" : lb_config_scalar(v, num, sizeof(num));
    char *copy = lb_config_printf(cfg, "%s", s); /* the option keeps the pointer */
    if (copy == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    if (lb_opts_set(e, &cfg->c, copy, why, sizeof(why)) != 0)
        return lb_error_set(err, LB_EUSAGE, "%s: %s", v->string, why);
    if (strcmp(e->name, "redis") == 0)
        cfg->c.redis_from = LB_REDIS_FROM_CONFIG;
    return 0;
}

/* ---- job entries ------------------------------------------------------------------- */

struct lb_argv {
    char **v;
    int n, cap;
};

static int lb_argv_push(struct lb_argv *a, char *s)
{
    if (s == NULL)
        return LB_ENOMEM;
    if (a->n + 2 > a->cap) {
        int cap = a->cap ? a->cap * 2 : 16;
        char **p = realloc(a->v, (size_t)cap * sizeof(*p));
        if (p == NULL)
            return LB_ENOMEM;
        a->v = p;
        a->cap = cap;
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
    return 0;
}

/* Append the option(s) of key k = value v: --opt=value, --flag, repeated. */
static int lb_config_push_opt(struct lb_config *cfg, struct lb_argv *a, const struct lb_key *k,
                              const cJSON *v)
{
    const char *opt = k->opt != NULL ? k->opt->name : NULL;
    char num[64];
    switch (k->type) {
    case LB_K_BOOL:
        return cJSON_IsTrue(v) ? lb_argv_push(a, lb_config_printf(cfg, "--%s", opt)) : 0;
    case LB_K_STRS:
        if (cJSON_IsString(v))
            return lb_argv_push(a, lb_config_printf(cfg, "--%s=%s", opt, v->valuestring));
        for (const cJSON *x = v->child; x != NULL; x = x->next)
            if (lb_argv_push(a, lb_config_printf(cfg, "--%s=%s", opt, x->valuestring)) != 0)
                return LB_ENOMEM;
        return 0;
    case LB_K_PATHS:
    case LB_K_JOBS:
        return 0; /* not options */
    default:
        return lb_argv_push(
            a, lb_config_printf(cfg, "--%s=%s", opt, lb_config_scalar(v, num, sizeof(num))));
    }
}

static int lb_config_entry(struct lb_config *cfg, const cJSON *root, const cJSON *e,
                           enum lb_config_kind kind, int idx, struct lb_error *err)
{
    const char *kname = kind == LB_CONFIG_TAIL ? "tail" : "mirror";
    struct lb_config_job *job = &cfg->jobs[cfg->njobs];
    memset(job, 0, sizeof(*job));
    job->kind = kind;
    snprintf(job->prefix, sizeof(job->prefix), "%s[%d]", kname, idx);
    const char *pre = job->prefix;
    if (!cJSON_IsObject(e))
        return lb_error_set(err, LB_EUSAGE, "%s: expected an object with the options of a %s job",
                            pre, kname);

    struct lb_key k;
    for (const cJSON *v = e->child; v != NULL; v = v->next) {
        int found = lb_key_job(kind, v->string, &k);
        if (found == LB_KEY_PROCESS)
            return lb_error_set(err, LB_EUSAGE,
                                "%s.%s: is a process-wide option: set it at the top level "
                                "of the config",
                                pre, v->string);
        if (found == LB_KEY_UNKNOWN) {
            char hint[96];
            lb_config_hint(kind == LB_CONFIG_TAIL ? &lb_tail_optspec : &lb_mirror_optspec,
                           v->string, hint, sizeof(hint));
            return lb_error_set(err, LB_EUSAGE, "%s.%s: unknown key for a %s job%s", pre, v->string,
                                kname, hint);
        }
        if (lb_config_dup_key(e, v))
            return lb_error_set(err, LB_EUSAGE, "%s.%s: duplicate key", pre, v->string);
        const char *why = lb_config_type_error(k.type, v);
        if (why != NULL)
            return lb_error_set(err, LB_EUSAGE, "%s.%s: %s", pre, v->string, why);
    }
    const char *required[2] = {"stream", kind == LB_CONFIG_TAIL ? "paths" : "file"};
    for (int i = 0; i < 2; i++)
        if (cJSON_GetObjectItemCaseSensitive(e, required[i]) == NULL)
            return lb_error_set(err, LB_EUSAGE, "%s.%s: is required", pre, required[i]);

    struct lb_argv a = {0};
    int rc = lb_argv_push(&a, lb_config_printf(cfg, "%s", kname));
    /* top-level common options first, unless the entry sets its own */
    for (const cJSON *v = root->child; v != NULL && rc == 0; v = v->next) {
        if (lb_key_top(v->string, &k) && k.type != LB_K_JOBS &&
            cJSON_GetObjectItemCaseSensitive(e, v->string) == NULL)
            rc = lb_config_push_opt(cfg, &a, &k, v);
    }
    for (const cJSON *v = e->child; v != NULL && rc == 0; v = v->next) {
        lb_key_job(kind, v->string, &k);
        rc = lb_config_push_opt(cfg, &a, &k, v);
    }
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(e, "paths");
    if (rc == 0 && paths != NULL) {
        /* after "--": a path that starts with '-' is still a path */
        rc = lb_argv_push(&a, lb_config_printf(cfg, "--"));
        for (const cJSON *x = paths->child; x != NULL && rc == 0; x = x->next)
            rc = lb_argv_push(&a, lb_config_printf(cfg, "%s", x->valuestring));
    }
    job->argv = a.v;
    job->argc = a.n;
    cfg->njobs++; /* from here on destroy frees argv */
    if (rc != 0)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    return 0;
}

/* ---- whole-config checks ------------------------------------------------------------- */

static const char *lb_config_str(const cJSON *e, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int lb_config_excludes(const cJSON *m, const char *src)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(m, "exclude_src");
    if (cJSON_IsString(x))
        return strcmp(x->valuestring, src) == 0;
    for (const cJSON *y = x ? x->child : NULL; y != NULL; y = y->next)
        if (strcmp(y->valuestring, src) == 0)
            return 1;
    return 0;
}

static int lb_config_has_glob(const char *p)
{
    return strpbrk(p, "*?[") != NULL;
}

/* The src a tail entry gives path p: its name, or the absolute path. */
static const char *lb_config_src(const cJSON *t, const char *p, char *abs, size_t cap)
{
    const char *name = lb_config_str(t, "name");
    if (name != NULL)
        return name;
    return lb_abs_path(p, abs, cap) == 0 ? abs : NULL;
}

/* Two tail paths that name one src into streams that share a checkpoint
 * hash (the same hash tag) would race on one checkpoint field. Each literal
 * path is compared with the ones before it; globs can only be checked when
 * the jobs run. */
static int lb_config_tail_check(const cJSON *tails, struct lb_error *err)
{
    char ta[LB_KEY_MAX], tb[LB_KEY_MAX], pa[PATH_MAX], pb[PATH_MAX];
    int ti = 0;
    for (const cJSON *t = tails ? tails->child : NULL; t != NULL; t = t->next, ti++) {
        lb_key_tag(lb_config_str(t, "stream"), ta, sizeof(ta));
        const cJSON *paths = cJSON_GetObjectItemCaseSensitive(t, "paths");
        for (const cJSON *p = paths->child; p != NULL; p = p->next) {
            const char *sa = lb_config_src(t, p->valuestring, pa, sizeof(pa));
            if (sa == NULL || lb_config_has_glob(p->valuestring))
                continue;
            /* every (entry, path) before this one */
            int tj = 0, done = 0;
            for (const cJSON *u = tails->child; u != NULL && !done; u = u->next, tj++) {
                lb_key_tag(lb_config_str(u, "stream"), tb, sizeof(tb));
                const cJSON *qs = cJSON_GetObjectItemCaseSensitive(u, "paths");
                for (const cJSON *q = qs->child; q != NULL; q = q->next) {
                    if (q == p) {
                        done = 1;
                        break;
                    }
                    const char *sb = lb_config_src(u, q->valuestring, pb, sizeof(pb));
                    if (sb != NULL && !lb_config_has_glob(q->valuestring) && strcmp(ta, tb) == 0 &&
                        strcmp(sa, sb) == 0)
                        return lb_error_set(err, LB_EUSAGE,
                                            "tail[%d].paths: src %s is already read by tail[%d] "
                                            "under the same checkpoint key; the two would race "
                                            "on one checkpoint",
                                            ti, sa, tj);
                }
            }
        }
    }
    return 0;
}

/* ---- feedback loops ------------------------------------------------------------------- */

/* dir + "/" + name into out; -1 when it does not fit. */
static int lb_config_join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Where path really is: symlinks resolved in its directories and, when it is
 * a symlink itself, followed even when the target does not exist yet (a
 * mirror creates its file on start). What cannot be resolved (a directory
 * that does not exist yet) is kept as written, already absolute. */
static void lb_config_resolve(const char *path, char *out, size_t cap)
{
    char cur[PATH_MAX], dir[PATH_MAX], rdir[PATH_MAX], cand[PATH_MAX], target[PATH_MAX];
    if (lb_abs_path(path, cur, sizeof(cur)) != 0)
        snprintf(cur, sizeof(cur), "%s", path);
    for (int hops = 0; hops < 40; hops++) { /* the kernel's limit (ELOOP) */
        if (realpath(cur, rdir) != NULL) {
            snprintf(out, cap, "%s", rdir);
            return;
        }
        const char *slash = strrchr(cur, '/');
        const char *base = slash + 1;
        snprintf(dir, sizeof(dir), "%.*s", slash == cur ? 1 : (int)(slash - cur), cur);
        if (realpath(dir, rdir) == NULL)
            break;
        if (lb_config_join(cand, sizeof(cand), rdir, base) != 0)
            break;
        ssize_t n = readlink(cand, target, sizeof(target) - 1);
        if (n < 0) {
            snprintf(cur, sizeof(cur), "%s", cand); /* not there yet, not a link */
            break;
        }
        target[n] = '\0';
        /* a dangling link: go on with its target */
        if (target[0] == '/')
            snprintf(cand, sizeof(cand), "%s", target);
        else if (lb_config_join(cand, sizeof(cand), rdir, target) != 0)
            break;
        if (lb_abs_path(cand, cur, sizeof(cur)) != 0)
            break;
    }
    snprintf(out, cap, "%s", cur);
}

/* Does template t render name s? Each placeholder stands for any value (a
 * template's own text is matched through the '*' too). */
static int lb_config_tmpl_matches(const char *t, const char *s)
{
    char pat[LB_KEY_MAX * 2];
    return lb_stream_is_template(t) && lb_stream_glob(t, pat, sizeof(pat)) == 0 &&
           fnmatch(pat, s, 0) == 0;
}

/* Can tail stream t write a stream that mirror stream s reads? Each is a
 * name or a %{type}/%{role} template (a mirror's template stands for every
 * stream it matches, DESIGN.md section 8): the same text, or one matches the
 * other. Returns 1 (t renders s), 2 (s matches t), or 0. */
static int lb_config_stream_feeds(const char *t, const char *s)
{
    if (strcmp(t, s) == 0 || lb_config_tmpl_matches(t, s))
        return 1;
    return lb_config_tmpl_matches(s, t) ? 2 : 0;
}

/*
 * Does tail path p (a path, or a glob in its last component, as tail takes
 * them) reach the file whose resolved path is real? On a match, src gets the
 * src tail would give that file (without "name"): the path as tail names it,
 * symlinks kept. Tail follows symlinks, so:
 *  - a literal path matches when it resolves to real;
 *  - a glob matches when its directory resolves to real's directory and the
 *    pattern matches real's name (FNM_PERIOD, as tail's scan), or when an
 *    entry it matches now is a symlink that resolves to real.
 */
static int lb_config_path_reaches(const char *p, const char *real, char *src, size_t cap)
{
    char pa[PATH_MAX], r[PATH_MAX];
    if (lb_abs_path(p, pa, sizeof(pa)) != 0)
        return 0;
    char *slash = strrchr(pa, '/');
    if (!lb_config_has_glob(slash + 1)) {
        lb_config_resolve(pa, r, sizeof(r));
        if (strcmp(r, real) != 0)
            return 0;
        snprintf(src, cap, "%s", pa);
        return 1;
    }
    char dir[PATH_MAX], rdir[PATH_MAX];
    const char *glob = slash + 1;
    snprintf(dir, sizeof(dir), "%.*s", slash == pa ? 1 : (int)(slash - pa), pa);
    lb_config_resolve(dir, rdir, sizeof(rdir));
    const char *rslash = strrchr(real, '/');
    size_t rdn = rslash == real ? 1 : (size_t)(rslash - real);
    if (strlen(rdir) == rdn && strncmp(rdir, real, rdn) == 0 &&
        fnmatch(glob, rslash + 1, FNM_PERIOD) == 0) {
        return lb_config_join(src, cap, dir, rslash + 1) == 0;
    }
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (!found && d != NULL && (e = readdir(d)) != NULL) {
        if (fnmatch(glob, e->d_name, FNM_PERIOD) != 0)
            continue;
        char entry[PATH_MAX];
        struct stat st;
        if (lb_config_join(entry, sizeof(entry), dir, e->d_name) != 0 || lstat(entry, &st) != 0 ||
            !S_ISLNK(st.st_mode))
            continue;
        lb_config_resolve(entry, r, sizeof(r));
        if (strcmp(r, real) == 0) {
            snprintf(src, cap, "%s", entry);
            found = 1;
        }
    }
    if (d != NULL)
        closedir(d);
    return found;
}

/* Two mirrors appending to one file would interleave and corrupt each
 * other's checkpoints; a file that a tail route can read into a stream the
 * mirror reads, without that route's src in exclude_src, feeds its own lines
 * back forever (one seed line became thousands of entries in seconds). Paths
 * are compared where they really are: globs matched, symlinks and ".."
 * resolved, the mirror file resolved through its directory (it may not exist
 * yet). */
static int lb_config_cross_check(const cJSON *tails, const cJSON *mirrors, struct lb_error *err)
{
    char fa[PATH_MAX], fr[PATH_MAX], fb[PATH_MAX], src[PATH_MAX];
    if (lb_config_tail_check(tails, err) != 0)
        return LB_EUSAGE;
    int mi = 0;
    for (const cJSON *m = mirrors ? mirrors->child : NULL; m != NULL; m = m->next, mi++) {
        if (lb_abs_path(lb_config_str(m, "file"), fa, sizeof(fa)) != 0)
            continue;
        lb_config_resolve(fa, fr, sizeof(fr));
        int mj = 0;
        for (const cJSON *n = mirrors->child; n != m; n = n->next, mj++) {
            lb_config_resolve(lb_config_str(n, "file"), fb, sizeof(fb));
            if (strcmp(fr, fb) == 0)
                return lb_error_set(err, LB_EUSAGE,
                                    "mirror[%d].file: %s is already the file of mirror[%d]", mi, fa,
                                    mj);
        }
        /* "stream": one name, or an array of them (DESIGN.md section 8) */
        const cJSON *mv = cJSON_GetObjectItemCaseSensitive(m, "stream");
        const cJSON *mone = cJSON_IsArray(mv) ? mv->child : mv;
        for (; mone != NULL; mone = cJSON_IsArray(mv) ? mone->next : NULL) {
            const char *ms = mone->valuestring;
            int ti = 0;
            for (const cJSON *t = tails ? tails->child : NULL; t != NULL; t = t->next, ti++) {
                const char *ts = lb_config_str(t, "stream");
                int feeds = lb_config_stream_feeds(ts, ms);
                if (!feeds)
                    continue;
                const cJSON *paths = cJSON_GetObjectItemCaseSensitive(t, "paths");
                int pi = 0;
                for (const cJSON *p = paths->child; p != NULL; p = p->next, pi++) {
                    if (!lb_config_path_reaches(p->valuestring, fr, src, sizeof(src)))
                        continue;
                    const char *name = lb_config_str(t, "name");
                    const char *s = name != NULL ? name : src;
                    if (lb_config_excludes(m, s))
                        continue;
                    char into[LB_KEY_MAX + 64];
                    if (strcmp(ts, ms) == 0)
                        snprintf(into, sizeof(into), "stream '%s'", ts);
                    else if (feeds == 2)
                        snprintf(into, sizeof(into), "'%s' (a stream of the mirror's template '%s')",
                                 ts, ms);
                    else
                        snprintf(into, sizeof(into), "'%s' (which renders stream '%s')", ts, ms);
                    return lb_error_set(err, LB_EUSAGE,
                                        "mirror[%d].file: %s is matched by tail[%d].paths[%d] (%s) "
                                        "into %s, so its lines would come back forever: add "
                                        "\"exclude_src\": [\"%s\"] to mirror[%d]",
                                        mi, fa, ti, pi, p->valuestring, into, s, mi);
                }
            }
        }
    }
    return 0;
}

/* ---- parse ----------------------------------------------------------------------------- */

static int lb_config_syntax_error(const char *text, size_t n, const char *at, struct lb_error *err)
{
    size_t pos = at != NULL && at >= text && at <= text + n ? (size_t)(at - text) : 0;
    long line = 1;
    size_t bol = 0;
    for (size_t i = 0; i < pos; i++)
        if (text[i] == '\n') {
            line++;
            bol = i + 1;
        }
    char near[32];
    size_t k = 0;
    for (size_t i = pos; i < n && k + 1 < sizeof(near) && text[i] != '\n'; i++)
        near[k++] = (unsigned char)text[i] < 0x20 ? ' ' : text[i];
    near[k] = '\0';
    if (k == 0)
        return lb_error_set(err, LB_EUSAGE,
                            "line %ld: invalid JSON: unexpected end of the file (an unclosed { "
                            "or [?)",
                            line);
    return lb_error_set(err, LB_EUSAGE, "line %ld: invalid JSON at column %zu, near '%s'", line,
                        pos - bol + 1, near);
}

/* One top-level key: a common option (into cfg->c), or "tail"/"mirror"
 * (their entries are read by lb_config_jobs). */
static int lb_config_top_key(struct lb_config *cfg, const cJSON *root, const cJSON *v,
                             struct lb_error *err)
{
    struct lb_key k, kj;
    const char *why;
    if (!lb_key_top(v->string, &k)) {
        if (lb_key_job(LB_CONFIG_TAIL, v->string, &kj) == LB_KEY_OK ||
            lb_key_job(LB_CONFIG_MIRROR, v->string, &kj) == LB_KEY_OK)
            return lb_error_set(err, LB_EUSAGE,
                                "%s: is an option of a job: set it inside a tail or mirror entry",
                                v->string);
        char hint[96];
        lb_config_hint(NULL, v->string, hint, sizeof(hint));
        return lb_error_set(err, LB_EUSAGE, "%s: unknown key%s", v->string, hint);
    }
    if (lb_config_dup_key(root, v))
        return lb_error_set(err, LB_EUSAGE, "%s: duplicate key", v->string);
    if ((why = lb_config_type_error(k.type, v)) != NULL)
        return lb_error_set(err, LB_EUSAGE, "%s: %s", v->string, why);
    if (k.type != LB_K_JOBS)
        return lb_config_top_value(cfg, k.opt, v, err);
    return 0;
}

/* The entries of "tail" and "mirror" (their types already checked), each
 * into cfg->jobs, then what only the whole set shows (lb_config_cross_check). */
static int lb_config_jobs(struct lb_config *cfg, const cJSON *root, struct lb_error *err)
{
    const cJSON *tails = cJSON_GetObjectItemCaseSensitive(root, "tail");
    const cJSON *mirrors = cJSON_GetObjectItemCaseSensitive(root, "mirror");
    int nt = cJSON_GetArraySize(tails), nm = cJSON_GetArraySize(mirrors);
    if (nt + nm == 0)
        return lb_error_set(err, LB_EUSAGE,
                            "no jobs: expected at least one entry in \"tail\" or \"mirror\"");
    cfg->jobs = calloc((size_t)(nt + nm), sizeof(*cfg->jobs));
    if (cfg->jobs == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    int rc = 0, i = 0;
    for (const cJSON *e = tails ? tails->child : NULL; e != NULL && rc == 0; e = e->next)
        rc = lb_config_entry(cfg, root, e, LB_CONFIG_TAIL, i++, err);
    i = 0;
    for (const cJSON *e = mirrors ? mirrors->child : NULL; e != NULL && rc == 0; e = e->next)
        rc = lb_config_entry(cfg, root, e, LB_CONFIG_MIRROR, i++, err);
    cfg->ntail = nt;
    cfg->nmirror = nm;
    return rc != 0 ? rc : lb_config_cross_check(tails, mirrors, err);
}

/* The parsed document: an object of top-level keys and jobs. */
static int lb_config_root(struct lb_config *cfg, const cJSON *root, struct lb_error *err)
{
    if (!cJSON_IsObject(root))
        return lb_error_set(err, LB_EUSAGE,
                            "expected a JSON object ({\"tail\": [...], \"mirror\": [...]})");
    int rc = 0;
    for (const cJSON *v = root->child; v != NULL && rc == 0; v = v->next)
        rc = lb_config_top_key(cfg, root, v, err);
    return rc != 0 ? rc : lb_config_jobs(cfg, root, err);
}

struct lb_config *lb_config_parse(const char *text, size_t n, struct lb_error *err)
{
    const char *nul = memchr(text, '\0', n);
    if (nul != NULL) {
        lb_config_syntax_error(text, n, nul, err);
        lb_error_set(err, LB_EUSAGE, "%.200s (a NUL byte)", err->msg);
        return NULL;
    }
    /* cJSON wants the terminating NUL inside the length to accept the end */
    char *buf = malloc(n + 1);
    struct lb_config *cfg = calloc(1, sizeof(*cfg));
    if (buf == NULL || cfg == NULL) {
        free(buf);
        free(cfg);
        lb_error_set(err, LB_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(buf, text, n);
    buf[n] = '\0';
    lb_common_defaults(&cfg->c);

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, n + 1, &end, 1);
    int rc =
        root == NULL ? lb_config_syntax_error(buf, n, end, err) : lb_config_root(cfg, root, err);
    cJSON_Delete(root);
    free(buf);
    if (rc != 0) {
        lb_config_destroy(cfg);
        return NULL;
    }
    return cfg;
}

struct lb_config *lb_config_load(const char *path, struct lb_error *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        lb_error_set(err, LB_EIO, "cannot read it: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (buf == NULL)
            break;
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
        if (n == cap) {
            /* a config is small; anything near this size is a wrong file */
            if (cap >= 16u * 1024 * 1024) {
                free(buf);
                fclose(f);
                lb_error_set(err, LB_EUSAGE, "larger than 16 MiB: is this a config?");
                return NULL;
            }
            char *p = realloc(buf, cap * 2);
            if (p == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    int e = errno;
    fclose(f);
    if (buf == NULL) {
        lb_error_set(err, LB_ENOMEM, "out of memory");
        return NULL;
    }
    if (bad) {
        free(buf);
        lb_error_set(err, LB_EIO, "cannot read it: %s", strerror(e));
        return NULL;
    }
    struct lb_config *cfg = lb_config_parse(buf, n, err);
    free(buf);
    return cfg;
}
