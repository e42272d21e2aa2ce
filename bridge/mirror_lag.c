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
 * 2. logbridge_mirror_lag_entries: the entries in the stream after last_id
 *    (over several streams: the sum over them, each after its own last ID).
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
/* One stream's XINFO: the loss warnings, and *lag (-1: not known). quiet:
 * the first look of a mirror without a checkpoint only records. 0 or an
 * error code. */
static int lb_lag_observe(struct lb_mirror *m, const char *key, struct lb_sid last,
                          const char *last_id, struct lb_lag *lg, int quiet, long long *lagp,
                          struct lb_error *err)
{
    *lagp = -1;
    struct lb_stream_info si;
    int rc = lb_stream_info_read(m->r, key, &si, err);
    if (rc != 0)
        return rc == LB_EREPLY ? 0 : rc;
    /* A missing key is an empty stream that never had an entry. */
    long long added = !si.exists ? 0 : si.has_added ? (long long)si.added : -1;
    long long length = (long long)si.length;
    /* Lost entries: trimmed past last or deleted after it before they were
     * read. With pos known the count is exact: caught up, every entry ever
     * added should have been read (entries-added - pos were not); in the
     * gap (last before the first retained entry), entries-added - length
     * left from the head and pos of them were read. */
    int gap = si.has_first && lb_sid_cmp(last, si.first) < 0;
    int caught_up = lb_sid_cmp(last, si.last_generated) >= 0;
    long long lost = 0;
    if (lg->pos_known && added >= 0) {
        if (caught_up)
            lost = added - (long long)lg->pos;
        else if (gap)
            lost = added - length - (long long)lg->pos;
    }
    if (quiet) {
        /* A new mirror starts from what the stream retains: what was trimmed
         * or deleted before it existed is not its loss. */
    } else if (lost > 0) {
        lb_warn_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", last_id)),
                   "mirror: %lld entries were trimmed or deleted from stream %s before they "
                   "were mirrored (the mirror is at id): they cannot be written",
                   lost, key);
    } else if (!lg->pos_known && gap && lb_sid_cmp(si.first, lg->lost_first) > 0) {
        lb_warn_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", last_id)),
                   "mirror: stream %s now starts at id=%" PRIu64 "-%" PRIu64
                   ", after the last mirrored id: entries between them, if there were any, were "
                   "trimmed before they were mirrored",
                   key, si.first.ms, si.first.seq);
    } else if (!lg->pos_known && lb_sid_cmp(si.max_deleted, last) > 0 &&
               lb_sid_cmp(si.max_deleted, lg->lost) > 0) {
        lb_warn_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", last_id)),
                   "mirror: entries after id were deleted from stream %s before they were "
                   "mirrored (up to id=%" PRIu64 "-%" PRIu64 "): they cannot be written",
                   key, si.max_deleted.ms, si.max_deleted.seq);
    }
    if (lost > 0)
        lg->pos += (uint64_t)lost; /* accounted for: said once */
    if (gap)
        lg->lost_first = si.first;
    if (lb_sid_cmp(si.max_deleted, lg->lost) > 0)
        lg->lost = si.max_deleted;

    if (caught_up) {
        *lagp = 0;
        if (added >= 0) {
            lg->pos = (uint64_t)added;
            lg->pos_known = 1;
        }
    } else if (!si.has_first || gap) {
        *lagp = length;
        if (added >= 0) {
            lg->pos = (uint64_t)(added - length);
            lg->pos_known = 1;
        }
    } else if (lg->pos_known && added >= 0) {
        *lagp = added - (long long)lg->pos;
        if (*lagp < 0)
            *lagp = 0;
    }
    return 0;
}

int lb_mirror_observe(struct lb_mirror *m, int force, struct lb_error *err)
{
    double now = lb_clock_mono();
    if (!force && now - m->lag_at < (m->want_metrics ? 1.0 : 5.0))
        return 0;
    m->lag_at = now;
    int quiet = m->lost_quiet, rc = 0;
    long long lag = -1;
    if (m->mm == NULL) {
        rc = lb_lag_observe(m, m->o->streams.v[0], m->last, m->last_id, &m->lag, quiet, &lag, err);
    } else {
        /* several streams: the entries after each one's last handled, summed;
         * one XINFO each (O(1)) */
        lag = 0;
        for (int i = 0; rc == 0 && i < m->mm->n; i++) {
            struct lb_many_stream *s = &m->mm->s[i];
            long long one;
            /* a stream followed from its start (new to this mirror): what was
             * trimmed before it was found is not the mirror's loss */
            int q = quiet || (!s->lag.seen && s->last.ms == 0 && s->last.seq == 0);
            rc = lb_lag_observe(m, s->key, s->last, s->id, &s->lag, q, &one, err);
            s->lag.seen = 1;
            lag = lag < 0 || one < 0 ? -1 : lag + one;
        }
    }
    if (rc != 0)
        return rc;
    m->lost_quiet = 0;
    if (m->want_metrics && lag >= 0)
        lb_metrics_set(m->metrics, "logbridge_mirror_lag_entries", m->lbl_file, (double)lag);
    return 0;
}
