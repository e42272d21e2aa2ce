/*
 * mirror_int.h - inside mirror and export (not for other modules): the
 * output side they share (mirror_out.c).
 */
#ifndef LB_MIRROR_INT_H
#define LB_MIRROR_INT_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "record.h"

#define LB_MIRROR_CHUNK (1024 * 1024) /* write(2) when the buffer holds this much */
#define LB_MIRROR_WARN_FREE 10        /* skipped entries warned about one by one */
#define LB_MIRROR_WARN_EVERY 1000     /* then one warning per this many */

/* Counted per batch and added to the metrics once per batch. `escaped` counts
 * written entries that needed at least one CR/LF escape (a subset of written). */
struct lb_mirror_counts {
    uint64_t written, skipped, excluded, escaped;
};

/* Add n to logbridge_mirror_entries_total{file,outcome} and zero it. */
void lb_counts_flush(struct lb_metrics *m, const char *file, struct lb_mirror_counts *n);

/* Rate-limited warning for a skipped entry: the first few one by one, then
 * one per LB_MIRROR_WARN_EVERY, each naming the entry. */
void lb_warn_skipped(const char *what, uint64_t total, const char *id, const char *why);

/* The lines of a batch, before write(2). */
struct lb_buf {
    char *p;
    size_t n, cap;
};

/* Room for `more` bytes after n. 0 or -1 (out of memory). */
int lb_buf_reserve(struct lb_buf *b, size_t more);

/* Free a buffer that a huge entry blew up past 4 chunks, so memory does not
 * stay high. */
void lb_buf_shrink(struct lb_buf *b);

/* write(2) all of p, through EINTR and short writes. 0 or -1 (errno). */
int lb_write_all(int fd, const char *p, size_t n);

/* Room for the line of rec (an upper bound, see mirror_out.c). */
size_t lb_line_bound(const struct lb_record *rec);

/* Monotonic seconds. */
double lb_mirror_mono(void);

#endif
