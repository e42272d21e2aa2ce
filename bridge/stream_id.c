/*
 * stream_id.c - stream IDs: parse, command-line forms, compare, format,
 * next (see stream_id.h).
 */
#include "stream_id.h"

#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int lb_sid_parse(const char *s, size_t n, struct lb_sid *out)
{
    struct lb_sid id = {0, 0};
    const char *dash = memchr(s, '-', n);
    size_t msn = dash != NULL ? (size_t)(dash - s) : n;
    if (lb_u64_parse(s, msn, &id.ms) != 0)
        return -1;
    if (dash != NULL && lb_u64_parse(dash + 1, n - msn - 1, &id.seq) != 0)
        return -1;
    *out = id;
    return 0;
}

int lb_sid_arg(const char *s, unsigned accept, int is_end, struct lb_sid *out)
{
    if ((accept & LB_SID_FORM_MIN) && strcmp(s, "-") == 0) {
        out->ms = out->seq = 0;
        return LB_SID_FORM_MIN;
    }
    if ((accept & LB_SID_FORM_MAX) && strcmp(s, "+") == 0) {
        out->ms = out->seq = UINT64_MAX;
        return LB_SID_FORM_MAX;
    }
    if ((accept & LB_SID_FORM_LAST) && strcmp(s, "$") == 0) {
        out->ms = out->seq = 0;
        return LB_SID_FORM_LAST;
    }
    if (!(accept & LB_SID_FORM_ID) || lb_sid_parse(s, strlen(s), out) != 0)
        return -1;
    if (is_end && strchr(s, '-') == NULL)
        out->seq = UINT64_MAX;
    return LB_SID_FORM_ID;
}

int lb_sid_cmp(struct lb_sid a, struct lb_sid b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq)
        return a.seq < b.seq ? -1 : 1;
    return 0;
}

char *lb_sid_format(struct lb_sid id, char out[LB_SID_BUF])
{
    snprintf(out, LB_SID_BUF, "%" PRIu64 "-%" PRIu64, id.ms, id.seq);
    return out;
}

int lb_sid_next(struct lb_sid *id)
{
    if (id->seq < UINT64_MAX) {
        id->seq++;
        return 0;
    }
    if (id->ms == UINT64_MAX)
        return -1;
    id->ms++;
    id->seq = 0;
    return 0;
}
