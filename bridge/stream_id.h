/*
 * stream_id.h - the one vocabulary of Redis stream IDs ("ms-seq") used by
 * mirror, export, parity and status: parse, the command-line forms (-, +, $,
 * ms), compare, format, next. Like Redis's own streamID/streamCompareID.
 */
#ifndef LB_STREAM_ID_H
#define LB_STREAM_ID_H

#include <stddef.h>
#include <stdint.h>

#define LB_SID_BUF 48 /* room for "ms-seq" and a NUL (two 20-digit numbers) */

struct lb_sid {
    uint64_t ms, seq;
};

/* "ms-seq", or "ms" (seq 0); decimal, overflow-checked, nothing else.
 * 0, or -1 (out untouched). */
int lb_sid_parse(const char *s, size_t n, struct lb_sid *out);

/* The forms a command line may give (lb_sid_arg's accept mask and result). */
enum {
    LB_SID_FORM_ID = 1,  /* "ms" or "ms-seq" */
    LB_SID_FORM_MIN = 2, /* "-": the smallest ID */
    LB_SID_FORM_MAX = 4, /* "+": the largest ID */
    LB_SID_FORM_LAST = 8 /* "$": the stream's last ID (resolved by the caller) */
};
/* What XRANGE takes: -, +, ms, ms-seq. */
#define LB_SID_FORMS_RANGE (LB_SID_FORM_ID | LB_SID_FORM_MIN | LB_SID_FORM_MAX)

/*
 * A --from/--to value as XRANGE/XREAD take it, if its form is in `accept`.
 * A bare ms is ms-0 as a start and ms-<max> as an end (is_end), as XRANGE
 * reads it. Returns the form (LB_SID_*) with *out set (0-0 for "$"), or -1.
 */
int lb_sid_arg(const char *s, unsigned accept, int is_end, struct lb_sid *out);

/* -1, 0 or 1, as a < b, a == b, a > b. */
int lb_sid_cmp(struct lb_sid a, struct lb_sid b);

/* "ms-seq" into out (LB_SID_BUF bytes). Returns out. */
char *lb_sid_format(struct lb_sid id, char out[LB_SID_BUF]);

/* The ID right after *id: the start of the next XRANGE page (Redis < 6.2 has
 * no exclusive "(id"). 0, or -1 when *id is the largest ID there is. */
int lb_sid_next(struct lb_sid *id);


#endif
