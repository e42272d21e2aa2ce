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

#endif
