/*
 * stream_info.h - what Redis says about a stream, read once for mirror,
 * parity and status: XINFO STREAM (O(1) without FULL), XINFO GROUPS, and the
 * last entry's ID.
 */
#ifndef LB_STREAM_INFO_H
#define LB_STREAM_INFO_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "redis.h"
#include "stream_id.h"

struct lb_stream_info {
    int exists; /* 0: no such key (every other field is 0) */
    uint64_t length;
    int has_added; /* entries-added is reported (Redis >= 7) */
    uint64_t added;
    struct lb_sid last_generated;
    int has_first, has_last; /* first-entry / last-entry (not on an empty stream) */
    struct lb_sid first, last;
    struct lb_sid max_deleted; /* Redis >= 7: the largest ID trimmed or deleted (else 0-0) */
};

/* XINFO STREAM. A missing key is si->exists = 0 and returns 0. Otherwise 0,
 * or the code of lb_redis_cmd (LB_EREDIS) or of lb_reply_error. */
int lb_stream_info_read(struct lb_redis *r, const char *stream, struct lb_stream_info *si,
                        struct lb_error *err);

/* One consumer group of XINFO GROUPS; lag/pending -1 when Redis does not
 * say (lag after XDEL, or Redis < 7). */
struct lb_stream_group {
    char *name; /* owned */
    long long lag, pending;
};

/* XINFO GROUPS: *out (free with lb_stream_groups_free) and *n. 0 or an
 * error code as lb_stream_info_read. */
int lb_stream_groups_read(struct lb_redis *r, const char *stream, struct lb_stream_group **out,
                          size_t *n, struct lb_error *err);
void lb_stream_groups_free(struct lb_stream_group *g, size_t n);

/* The ID of the stream's last entry (XREVRANGE + - COUNT 1); 0-0 when it is
 * empty or missing. 0 or an error code. */
int lb_stream_last_id(struct lb_redis *r, const char *stream, struct lb_sid *out,
                      struct lb_error *err);

#endif
