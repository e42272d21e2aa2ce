/*
 * mirror_out.c - what mirror and export share on the way out: the line
 * buffer, write(2) of all of it, the outcome counters and the rate-limited
 * warning about a skipped entry.
 */
#include "mirror_int.h"

#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void lb_counts_flush(struct lb_metrics *m, const char *file, struct lb_mirror_counts *n)
{
    static const char *const names[] = {"written", "skipped",  "excluded",
                                        "escaped", "resent", "reordered"};
    const uint64_t v[] = {n->written, n->skipped, n->excluded,
                          n->escaped, n->resent,  n->reordered};
    for (int i = 0; i < 6; i++) {
        char labels[PATH_MAX + 64];
        /* Create every series at the first flush, so that a 0 is visible. */
        lb_metrics_add(m, "logbridge_mirror_entries_total",
                       lb_metrics_labels(labels, sizeof(labels), "file", file, "outcome", names[i],
                                         (const char *)NULL),
                       (double)v[i]);
    }
    memset(n, 0, sizeof(*n));
}

/* Rate-limited warning for a skipped entry: the first few one by one, then one
 * per LB_MIRROR_WARN_EVERY, each naming the entry. */
void lb_warn_skipped(const char *what, uint64_t total, const char *id, const char *why)
{
    if (total <= LB_MIRROR_WARN_FREE || total % LB_MIRROR_WARN_EVERY == 0)
        lb_warn("%s: skipped entry id=%s: %s (it cannot be a legacy line); %" PRIu64
                " skipped so far%s",
                what, id, why, total,
                total == LB_MIRROR_WARN_FREE ? "; from now on one warning per 1000" : "");
}

int lb_buf_reserve(struct lb_buf *b, size_t more)
{
    if (b->n + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64 * 1024;
    while (cap < b->n + more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* write(2) all of p, through EINTR and short writes. Returns 0 or -1 (errno). */
int lb_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Room for the line of rec: the CR/LF escape at most doubles a value, so
 * this bound saves a second pass over the bytes (lb_format_line measures). */
size_t lb_line_bound(const struct lb_record *rec)
{
    return 2 * (rec->role.n + rec->ts.n + rec->type.n + rec->data.n) + 4;
}

void lb_buf_shrink(struct lb_buf *b)
{
    if (b->cap > 4 * LB_MIRROR_CHUNK) {
        free(b->p);
        b->p = NULL;
        b->cap = 0;
    }
}
