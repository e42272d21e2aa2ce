/*
 * mirror_lag.c - how far behind the stream a mirror is, and what was
 * trimmed or deleted before it was mirrored, from one XINFO STREAM.
 */
#include "mirror_int.h"

#include "clock.h"
#include "log.h"
#include "stream_info.h"

#include <inttypes.h>

/* ---- mirror: lag -------------------------------------------------------------------- */

/*
 * One XINFO STREAM (O(1) without FULL) feeds two things:
 *
 * 1. A warning when entries were trimmed (MAXLEN) or deleted (XDEL) before
 *    the mirror read them (they cannot be written), said once per loss:
 *    counted exactly when pos (below) is known, else guessed from a first
 *    retained entry past last_id or max-deleted-entry-id > last_id.
 *
 * 2. logbridge_mirror_lag_entries: the entries in the stream after last_id.
 *    An exact count would be an O(lag) XRANGE, so, like Redis's own
 *    consumer-group lag, it is arithmetic on entries-added (Redis >= 7):
 *    - last_id >= last-generated-id: caught up, lag 0, pos = entries-added;
 *    - last_id before the first retained entry: every retained entry is
 *      ahead, lag = length, pos = entries-added - length;
 *    - otherwise pos (the entries-added index of last_id) is known only when
 *      it was known before: each entry read adds 1. lag = entries-added - pos.
 *    Until pos is known (a resume in the middle of a stream) the gauge is not
 *    set; entries deleted with XDEL after last_id make it an overestimate.
 *
 * Asked at most once a second with metrics, every 5 s without.
 */
int lb_mirror_observe(struct lb_mirror *m, int force, struct lb_error *err)
{
    double now = lb_clock_mono();
    if (!force && now - m->lag_at < (m->want_metrics ? 1.0 : 5.0))
        return 0;
    m->lag_at = now;
    struct lb_stream_info si;
    int rc = lb_stream_info_read(m->r, m->o->stream, &si, err);
    if (rc != 0)
        return rc == LB_EREPLY ? 0 : rc;
    /* A missing key is an empty stream that never had an entry. */
    long long added = !si.exists ? 0 : si.has_added ? (long long)si.added : -1;
    long long length = (long long)si.length;
    /* Lost entries: trimmed past last_id or deleted after it before they
     * were read. With pos known the count is exact: caught up, every entry
     * ever added should have been read (entries-added - pos were not); in
     * the gap (last_id before the first retained entry), entries-added -
     * length left from the head and pos of them were read. */
    int gap = si.has_first && lb_sid_cmp(m->last, si.first) < 0;
    int caught_up = lb_sid_cmp(m->last, si.last_generated) >= 0;
    long long lost = 0;
    if (m->pos_known && added >= 0) {
        if (caught_up)
            lost = added - (long long)m->pos;
        else if (gap)
            lost = added - length - (long long)m->pos;
    }
    if (m->lost_quiet) {
        /* A new mirror starts from what the stream retains: what was trimmed
         * or deleted before it existed is not its loss. */
        m->lost_quiet = 0;
    } else if (lost > 0) {
        lb_warn_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", m->last_id)),
                   "mirror: %lld entries were trimmed or deleted from the stream before they "
                   "were mirrored (the mirror is at id): they cannot be written",
                   lost);
    } else if (!m->pos_known && gap && lb_sid_cmp(si.first, m->lost_first) > 0) {
        lb_warn_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", m->last_id)),
                   "mirror: the stream now starts at id=%" PRIu64 "-%" PRIu64
                   ", after the last mirrored id: entries between them, if there were any, were "
                   "trimmed before they were mirrored",
                   si.first.ms, si.first.seq);
    } else if (!m->pos_known && lb_sid_cmp(si.max_deleted, m->last) > 0 &&
               lb_sid_cmp(si.max_deleted, m->lost) > 0) {
        lb_warn_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", m->last_id)),
                   "mirror: entries after id were deleted from the stream before they were "
                   "mirrored (up to id=%" PRIu64 "-%" PRIu64 "): they cannot be written",
                   si.max_deleted.ms, si.max_deleted.seq);
    }
    if (lost > 0)
        m->pos += (uint64_t)lost; /* accounted for: said once */
    if (gap)
        m->lost_first = si.first;
    if (lb_sid_cmp(si.max_deleted, m->lost) > 0)
        m->lost = si.max_deleted;

    long long lag = -1;
    if (caught_up) {
        lag = 0;
        if (added >= 0) {
            m->pos = (uint64_t)added;
            m->pos_known = 1;
        }
    } else if (!si.has_first || gap) {
        lag = length;
        if (added >= 0) {
            m->pos = (uint64_t)(added - length);
            m->pos_known = 1;
        }
    } else if (m->pos_known && added >= 0) {
        lag = added - (long long)m->pos;
        if (lag < 0)
            lag = 0;
    }
    if (!m->want_metrics)
        return 0;
    if (lag >= 0)
        lb_metrics_set(m->metrics, "logbridge_mirror_lag_entries", m->lbl_file, (double)lag);
    return 0;
}
