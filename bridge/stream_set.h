/*
 * stream_set.h - the streams one job reads (DESIGN.md section 8): the
 * `--stream` values of mirror, export, parity and status (each a name or a
 * %{type}/%{role} template, the option repeated), and what they stand for on
 * the server.
 */
#ifndef LB_STREAM_SET_H
#define LB_STREAM_SET_H

#include <stddef.h>

#define LB_STREAMS_MAX 64 /* --stream may be given this many times */

/* The --stream values as given (strings borrowed from argv). */
struct lb_streams {
    const char *v[LB_STREAMS_MAX];
    int n;
};

/* An option setter's body (opts.h, LB_OPTF_REPEAT): add arg. 0, or -1 with
 * why (an empty value, one given twice, too many). */
int lb_streams_add(struct lb_streams *s, const char *arg, char *why, size_t cap);

/* Whether s is a template (holds %{...}). */
int lb_stream_is_template(const char *s);

/* Whether the --stream values s stand for stream `name`: one of them is
 * name, or a template whose pattern (lb_stream_glob) matches it. */
int lb_streams_match(const struct lb_streams *s, const char *name);

/* The stream a template routes rec to (DESIGN.md section 2): %{type} and
 * %{role} replaced by the record's. out has room for
 * strlen(tmpl) + rec->type.n + rec->role.n bytes; no NUL is written.
 * Returns the length. */
struct lb_record;
size_t lb_stream_render(const char *tmpl, const struct lb_record *rec, char *out);


/* ---- what the values stand for on the server ------------------------------------ */

#include "error.h"
#include "redis.h"

/* Stream names (owned). */
struct lb_names {
    char **v;
    int n, cap;
};
void lb_names_free(struct lb_names *s);

/* The SCAN MATCH pattern of a template: each %{...} becomes '*', and the
 * glob's own special characters (* ? [ ] \) are escaped. 0, or -1 when it
 * does not fit in cap. */
int lb_stream_glob(const char *tmpl, char *out, size_t cap);

/* The streams the --stream values stand for (DESIGN.md section 8): a plain
 * name is itself (whether it exists or not); a template, the members of
 * logbridge:streams:{T} (the names tail and import wrote through it) and
 * every existing stream its pattern matches (SCAN MATCH ... TYPE stream on
 * the connected node), sorted by name. In the order given, each name once.
 * 0, or an error (LB_EREDIS: connection lost; LB_EREPLY: e.g. a Redis older
 * than 6.0 without SCAN TYPE). */
int lb_streams_resolve(struct lb_redis *r, const struct lb_streams *in, struct lb_names *out,
                       struct lb_error *err);

#endif
