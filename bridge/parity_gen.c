/*
 * parity_gen.c - routes and generations: which FILE each entry's line was
 * read from, and which lines are not committed yet.
 *
 * tail names every generation of a file after the route (the live path, or
 * --name), and a generation's offsets start again at 0. So a route's entries
 * are runs, one per generation, and a run starts where the offsets go back.
 * Each run is matched to the FILE whose line at the run's first offset has
 * the run's first content (a FILE's first valid line, or for the first run
 * of a route, which trimming or --from may have cut, the line at that
 * offset): once matched, the run is aligned with that FILE alone, by offset.
 *  - Runs before the first one that is a FILE's are older generations the
 *    operator did not give (rotated away, deleted by logrotate): they are not
 *    compared, and the end of the run says how many there were.
 *  - A run after that which is no FILE's is a generation missing from the
 *    chain: its entries are extra, and the message names where it lies.
 * The FILEs of a route may so be given in any order; oldest first is still
 * what decides which FILE follows the checkpoint's (pending, below).
 *
 * Pending: the checkpoint of a route (read before the stream's end is
 * fixed, so that whatever it committed is in the range compared) names the
 * generation tail reads now by identity: dev and inode, and the fingerprint
 * of its first bytes (a copy, as in a CI job that gets the logs as an
 * artifact, or the copy logrotate's copytruncate made, matches by the
 * fingerprint alone). Its lines from the committed offset on, and every line
 * of the FILEs given after it that no entry belongs to (a generation tail
 * has not reached yet), are pending: not committed yet, not missing. FILEs
 * the checkpoint lists as finished generations ("done") are never pending.
 */
#include "parity_int.h"

#include "log.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- routes ---------------------------------------------------------------------------------- */

int lb_parity_routes(struct lb_parity *p, struct lb_error *err)
{
    p->routes = calloc((size_t)p->nfiles, sizeof(*p->routes));
    if (p->routes == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    for (int i = 0; i < p->nfiles; i++) {
        struct lb_route *r = NULL;
        for (int j = 0; j < p->nroutes && r == NULL; j++)
            if (strcmp(p->routes[j].src, p->pf[i].src) == 0)
                r = &p->routes[j];
        if (r == NULL) {
            r = &p->routes[p->nroutes++];
            r->src = p->pf[i].src;
            r->src_len = strlen(r->src);
            r->cf = r->cur = r->last_file = -1;
            r->older.after_file = r->unknown.after_file = -1;
            r->files = calloc((size_t)p->nfiles, sizeof(int));
            if (r->files == NULL)
                return lb_error_set(err, LB_ENOMEM, "out of memory");
        }
        p->pf[i].route = (int)(r - p->routes);
        p->pf[i].pending_from = UINT64_MAX;
        r->files[r->nfiles++] = i;
    }
    /* JUnit names a FILE by its route and its place in the chain, which stay
     * the same as files rotate (the paths do not). */
    for (int j = 0; j < p->nroutes; j++) {
        const struct lb_route *r = &p->routes[j];
        for (int k = 0; k < r->nfiles; k++) {
            p->fst[r->files[k]].route = r->src;
            p->fst[r->files[k]].generation = k - (r->nfiles - 1);
        }
    }
    return 0;
}

void lb_parity_routes_free(struct lb_parity *p)
{
    for (int j = 0; j < p->nroutes; j++)
        free(p->routes[j].files);
    free(p->routes);
    p->routes = NULL;
    p->nroutes = 0;
}

struct lb_route *lb_parity_route_of(struct lb_parity *p, const struct lb_slice *src)
{
    struct lb_route *r = p->last_route;
    if (r != NULL && r->src_len == src->n && memcmp(r->src, src->p, src->n) == 0)
        return r;
    for (int j = 0; j < p->nroutes; j++) {
        r = &p->routes[j];
        if (r->src_len == src->n && memcmp(r->src, src->p, src->n) == 0)
            return p->last_route = r;
    }
    return NULL;
}

/* ---- checkpoints and identities ---------------------------------------------------------------- */

/* Is the open FILE s the generation (dev, ino, fp over off bytes)? 2: the
 * same file; 1: the same first bytes under another inode (a copy, a .gz);
 * 0: no. A generation at offset 0 has no bytes to compare: only the same
 * file is it. */
static int lb_gen_is(struct lb_source *s, unsigned long long dev, unsigned long long ino,
                     const char *fp, uint64_t off)
{
    char have[LB_FP_HEX];
    int same = lb_source_kind(s) == LB_SOURCE_FILE &&
               (unsigned long long)lb_source_dev(s) == dev &&
               (unsigned long long)lb_source_ino(s) == ino;
    if (lb_source_fingerprint(s, off, have) != 0 || strcmp(have, fp) != 0)
        return 0;
    if (same)
        return 2;
    return off > 0 ? 1 : 0;
}

static int lb_parity_route_ckpt(struct lb_parity *p, struct lb_route *r, const char *key,
                                struct lb_error *err)
{
    struct lb_error e2 = {0};
    int rc = lb_ckpt_load(p->r, key, r->src, &r->ck, &e2);
    if (rc == LB_ECKPT) {
        lb_warn("parity: the checkpoint of src=%s is unreadable (%s): no line counts as pending",
                r->src, e2.msg);
        r->ck.present = 0;
        return 0;
    }
    if (rc != 0) {
        *err = e2;
        return rc;
    }
    if (!r->ck.present)
        return 0;
    int best = 0;
    for (int k = 0; k < r->nfiles; k++) {
        int fi = r->files[k];
        struct lb_source *s = lb_source_open(p->pf[fi].path, p->o->c.max_line, err);
        if (s == NULL)
            return err->code;
        int how = lb_gen_is(s, r->ck.dev, r->ck.ino, r->ck.fp, r->ck.off);
        if (how > best) {
            best = how;
            r->cf = fi;
        }
        for (int d = 0; d < r->ck.ndone && !p->pf[fi].done_gen; d++) {
            const struct lb_ckpt_gen *g = &r->ck.done[d];
            p->pf[fi].done_gen = lb_gen_is(s, g->dev, g->ino, g->fp, g->off) > 0;
        }
        lb_source_close(s);
    }
    if (r->cf < 0)
        return 0;
    p->pf[r->cf].done_gen = 0;
    p->pf[r->cf].pending_from = r->ck.off;
    int after = 0;
    for (int k = 0; k < r->nfiles; k++) {
        int fi = r->files[k];
        if (after && !p->pf[fi].done_gen)
            p->pf[fi].pending_after = 1;
        after |= fi == r->cf;
    }
    return 0;
}

int lb_parity_checkpoints(struct lb_parity *p, struct lb_error *err)
{
    if (p->o->no_pending)
        return 0;
    /* Several --stream values may have several hash tags (a single
     * server): a route's checkpoint is under the first that holds one. */
    const struct lb_streams *in = &p->o->streams;
    for (int i = 0; i < in->n; i++) {
        char key[LB_KEY_MAX], kj[LB_KEY_MAX];
        int seen = 0;
        lb_key_derive(in->v[i], "ckpt", key, sizeof(key));
        for (int j = 0; j < i && !seen; j++)
            seen = strcmp(key, (lb_key_derive(in->v[j], "ckpt", kj, sizeof(kj)), kj)) == 0;
        for (int j = 0; j < p->nroutes && !seen; j++) {
            if (p->routes[j].ck.present)
                continue;
            int rc = lb_parity_route_ckpt(p, &p->routes[j], key, err);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

int lb_parity_line_pending(const struct lb_parity *p, const struct lb_align_item *f)
{
    const struct lb_pfile *pf = &p->pf[f->file];
    return f->off >= pf->pending_from || (pf->pending_after && !pf->claimed);
}

/* ---- runs of entries: which FILE's generation ------------------------------------------------ */

static void lb_route_firsts(struct lb_parity *p, struct lb_route *r)
{
    r->max_first_off = 0;
    for (int k = 0; k < r->nfiles; k++) {
        const struct lb_pfile *f = &p->pf[r->files[k]];
        if (!f->claimed && f->has_first && f->first_off > r->max_first_off)
            r->max_first_off = f->first_off;
    }
}

/* The first valid line of every FILE of the route (once, before its first
 * entry is routed). */
static int lb_route_prepare(struct lb_parity *p, struct lb_route *r, struct lb_error *err)
{
    for (int k = 0; k < r->nfiles; k++) {
        struct lb_pfile *f = &p->pf[r->files[k]];
        int rc = lb_parity_first_line(p, r->files[k], &f->first_off, &f->first_hash, err);
        if (rc < 0)
            return rc;
        f->has_first = rc == 1;
    }
    lb_route_firsts(p, r);
    return 0;
}

/* An unclaimed FILE whose first valid line is (off, hash), or -1. */
static int lb_route_first_hit(struct lb_parity *p, const struct lb_route *r, uint64_t off,
                              uint64_t hash)
{
    for (int k = 0; k < r->nfiles; k++) {
        const struct lb_pfile *f = &p->pf[r->files[k]];
        if (!f->claimed && f->has_first && f->first_off == off && f->first_hash == hash)
            return r->files[k];
    }
    return -1;
}

/* Which unclaimed FILE a run starting at (off, hash) is: by first lines;
 * before any FILE was found, also by the line at off (a head cut by
 * trimming or --from). -1 none, or < -1 an error (err set). */
static int lb_route_match(struct lb_parity *p, struct lb_route *r, uint64_t off, uint64_t hash,
                          struct lb_error *err)
{
    int fi = lb_route_first_hit(p, r, off, hash);
    if (fi >= 0 || r->last_file >= 0)
        return fi;
    for (int k = 0; k < r->nfiles; k++) {
        const struct lb_pfile *f = &p->pf[r->files[k]];
        if (f->claimed || !f->has_first || f->first_off >= off)
            continue;
        uint64_t h;
        int rc = lb_parity_line_at(p, r->files[k], off, &h, err);
        if (rc < 0)
            return rc < -1 ? rc : LB_EIO;
        if (rc == 1 && h == hash)
            return r->files[k];
    }
    return -1;
}

static void lb_run_note_add(struct lb_run_note *n, const struct lb_align_item *it, int start,
                            int after_file)
{
    if (n->entries == 0) {
        n->first_ms = it->ms;
        n->first_seq = it->seq;
        n->after_file = after_file;
    }
    n->runs += start;
    n->entries++;
    n->last_ms = it->ms;
    n->last_seq = it->seq;
    if (it->off > n->max_off)
        n->max_off = it->off;
}

/*
 * Does the entry at (off, hash) start a new run? Offsets rise within a
 * generation, so a new one shows as an offset that goes back, but so does
 * an entry out of order, or changed and moved. In order:
 *  1. it is an unclaimed FILE's first line: a new run, of that FILE
 *     (*fi); also when the offset did not go back (a generation whose first
 *     valid line lies past the end of the one before);
 *  2. the offset did not go back: the same run;
 *  3. the current FILE holds the same line at that offset: the same run
 *     (an entry out of order: the aligner counts it);
 *  4. the offset went back by less than half: the same run (moved or
 *     changed in place: the aligner tells which);
 *  5. else a new run, whose FILE is still to be found.
 * Returns 1 new run, 0 the same, < 0 an error.
 */
static int lb_route_starts(struct lb_parity *p, struct lb_route *r, uint64_t off, uint64_t hash,
                           int *fi, struct lb_error *err)
{
    *fi = -1;
    if (r->state == LB_RUN_NONE)
        return 1;
    if (off <= r->max_first_off && (*fi = lb_route_first_hit(p, r, off, hash)) >= 0)
        return 1;
    if (off > r->last_off)
        return 0;
    if (r->state == LB_RUN_FILE) {
        uint64_t h;
        int rc = lb_parity_line_at(p, r->cur, off, &h, err);
        if (rc < 0)
            return rc;
        if (rc == 1 && h == hash)
            return 0;
    }
    if (off > 0 && off > r->last_off / 2)
        return 0;
    return 1;
}

int lb_parity_gen_route(struct lb_parity *p, struct lb_route *r, const struct lb_align_item *it,
                        struct lb_group **g, int *older, struct lb_error *err)
{
    int rc, fi;
    *older = 0;
    *g = NULL;
    if (r->state == LB_RUN_NONE && (rc = lb_route_prepare(p, r, err)) != 0)
        return rc;
    int start = lb_route_starts(p, r, it->off, it->hash, &fi, err);
    if (start < 0)
        return start;
    if (start || it->off > r->last_off)
        r->last_off = it->off;
    r->entries++;
    if (start) {
        if (fi < 0 && (fi = lb_route_match(p, r, it->off, it->hash, err)) < -1)
            return fi;
        if (fi >= 0) {
            p->pf[fi].claimed = 1;
            r->state = LB_RUN_FILE;
            r->cur = r->last_file = fi;
            lb_route_firsts(p, r);
        } else {
            r->state = r->last_file < 0 ? LB_RUN_OLDER : LB_RUN_UNKNOWN;
        }
    }
    switch (r->state) {
    case LB_RUN_FILE:
        *g = &p->groups[p->pf[r->cur].group];
        break;
    case LB_RUN_OLDER:
        lb_run_note_add(&r->older, it, start, -1);
        *older = 1;
        break;
    default:
        lb_run_note_add(&r->unknown, it, start, r->last_file);
        break;
    }
    return 0;
}

void lb_parity_gen_report(struct lb_parity *p)
{
    for (int j = 0; j < p->nroutes; j++) {
        const struct lb_route *r = &p->routes[j];
        const struct lb_run_note *o = &r->older, *u = &r->unknown;
        if (o->entries > 0)
            lb_info("parity: %" PRIu64 " entries of src=%s (%" PRIu64 " generation%s, IDs %" PRIu64
                    "-%" PRIu64 "..%" PRIu64 "-%" PRIu64 ") come from generations older than "
                    "the FILEs given: not compared (give those files, oldest first, to "
                    "compare them too)",
                    o->entries, r->src, o->runs, o->runs == 1 ? "" : "s", o->first_ms,
                    o->first_seq, o->last_ms, o->last_seq);
        if (u->entries > 0)
            lb_warn("parity: %" PRIu64 " entries of src=%s (%" PRIu64 " generation%s, IDs %" PRIu64
                    "-%" PRIu64 "..%" PRIu64 "-%" PRIu64 ", offsets up to %" PRIu64 ") come "
                    "from a generation that none of the FILEs holds, after %s: a file missing "
                    "from the chain? They count as extra_in_stream",
                    u->entries, r->src, u->runs, u->runs == 1 ? "" : "s", u->first_ms,
                    u->first_seq, u->last_ms, u->last_seq, u->max_off,
                    u->after_file >= 0 ? p->pf[u->after_file].path : "the first FILE");
    }
}
