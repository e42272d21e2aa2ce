/*
 * tail.c - `logbridge tail`: follow live files and append each line to a
 * stream, exactly once (DESIGN.md sections 4 and 5).
 *
 * One job is one event loop: epoll over an inotify fd (tail_watch.c), the
 * process's stop eventfd (signals.h) and a timerfd that is armed
 * only when something is due (a rotated generation's --rotate-wait, the
 * Redis backoff, metrics). An idle job sleeps in epoll_wait and uses no CPU.
 *
 * Terms. A route (tfile) is a name we follow: a PATH, or a file a GLOB
 * matched; its src is that absolute path (or --name). A generation (gen) is
 * one inode that was at that path: rotation makes new generations. Redis
 * holds one checkpoint per src, so a route reads one generation at a time:
 * the current one (cur), then those queued behind it, each from byte 0.
 *
 * Files. tail.c: this loop, the job's setup and its options; tail_route.c:
 * the routes (PATHs, GLOBs), their directories and the inotify events;
 * tail_gen.c: the generations; tail_state.c: a route's rotation state and
 * every change of its current generation; tail_read.c: reading, the
 * committer, Redis going down and coming back; tail_rotate.c: finding the
 * rotated generations; tail_watch.c: the inotify watch set. What crosses
 * them is declared in tail_int.h.
 *
 * Reading. A file with data is "dirty": service() reads what is available
 * and queues its lines in the sink; each read's lines go out as one batch
 * (lines, DLQ entries and the checkpoint, applied atomically by Redis), so a
 * batch is what one read brought (capped by --batch): small and immediate at
 * low rates, large at high rates. A batch is sent without waiting for its
 * reply (the sink copies it out of the read buffer), so the next read is
 * parsed while Redis runs it; replies are read as they come (the connection
 * is in the epoll set). At most LB_TAIL_FLIGHTS batches, all of one route,
 * are in flight. An unterminated last line stays in the buffer and the
 * checkpoint stays before it.
 *
 * Rotation, as the kernel shows it to us:
 *  - rename + create: the dir reports the name moved away and a new file
 *    created; the old inode (we keep its fd) is read to its end and for
 *    --rotate-wait seconds after its last change (late writers), its last
 *    unterminated line is then taken as a line, and the new generation starts
 *    at byte 0 (its first commit switches the checkpoint to its dev/ino);
 *  - delete (+ create): the same, the old inode being unlinked;
 *  - copytruncate: the file is shorter than what we read (or its first bytes
 *    changed): the bytes past the checkpoint are read from the rotated copy
 *    (found by fingerprint, tail_rotate.c), then the file from byte 0;
 *  - while we were stopped: at start the checkpointed generation is looked
 *    for in the same directory and finished first.
 * What cannot be recovered is logged at warn with a byte count and counted
 * in logbridge_lost_bytes_total.
 *
 * Redis down: reading stops (the file is the buffer). The backoff timer
 * retries; then the checkpoint in Redis says which batches in flight landed
 * (it is where we were, or the end of one of them), and the route is rewound
 * to it and read again from the file.
 */
#include "tail.h"
#include "clock.h"
#include "tail_int.h"

#include "committer.h"
#include "feed.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"
#include "redis.h"
#include "signals.h"
#include "sink.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define LB_TAIL_TURN_FILES 16 /* turns between two looks at epoll (a stop) */
#define LB_TAIL_LAG_SEC 1.0   /* how often the lag gauge looks at the files */

/* ---- the loop ------------------------------------------------------------------------------ */

/* logbridge_lag_bytes follows the files, also while nothing is read (Redis
 * away: the file is the buffer and grows): every LB_TAIL_LAG_SEC, the size
 * of each route's current generation against its checkpoint. */
static void lb_tail_refresh_lag(struct lb_tail *j)
{
    for (size_t i = 0; i < j->nf; i++) {
        struct lb_tfile *tf = j->f[i];
        if (tf->cur != NULL && !tf->cur->gz) {
            long long size = lb_source_size(tf->cur->s);
            if (size >= 0 && (uint64_t)size > tf->cur->seen)
                tf->cur->seen = (uint64_t)size;
            lb_tail_lag(j, tf);
        }
    }
    j->lag_next = lb_clock_mono() + LB_TAIL_LAG_SEC;
}

/* Arm the timerfd for the earliest thing due; disarm it when nothing is. */
static void lb_tail_arm(struct lb_tail *j)
{
    double due = INFINITY;
    if (!j->up)
        due = j->next_try;
    if (j->m != NULL && j->lag_next < due)
        due = j->lag_next;
    if (j->nmissing > 0 && j->dirs_next < due)
        due = j->dirs_next;
    if (j->ndraining > 0)
        for (size_t i = 0; i < j->nf; i++) {
            struct lb_tfile *tf = j->f[i];
            if (tf->state == LB_ROT_DRAINING && tf->cur != NULL && !tf->dirty &&
                tf->last_change + j->o->rotate_wait < due)
                due = tf->last_change + j->o->rotate_wait;
        }
    if (due == j->armed)
        return;
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    if (due != INFINITY) {
        if (due < 1e-3)
            due = 1e-3;
        its.it_value.tv_sec = (time_t)due;
        its.it_value.tv_nsec = (long)((due - (double)(time_t)due) * 1e9);
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
            its.it_value.tv_nsec = 1;
    }
    timerfd_settime(j->tfd, TFD_TIMER_ABSTIME, &its, NULL);
    j->armed = due;
}

/* What is due now: expired rotate-waits make their routes dirty. */
static void lb_tail_due(struct lb_tail *j)
{
    double now = lb_clock_mono();
    if (!j->up && now >= j->next_try)
        lb_tail_reconnect(j);
    if (j->m != NULL && now >= j->lag_next)
        lb_tail_refresh_lag(j);
    if (j->nmissing > 0 && now >= j->dirs_next)
        lb_tail_look_dirs(j);
    if (j->ndraining > 0)
        for (size_t i = 0; i < j->nf; i++) {
            struct lb_tfile *tf = j->f[i];
            if (tf->state == LB_ROT_DRAINING && tf->cur != NULL &&
                now >= tf->last_change + j->o->rotate_wait)
                lb_tail_dirty(j, tf);
        }
}

static void lb_tail_work(struct lb_tail *j)
{
    if (j->rescan) {
        j->rescan = 0;
        lb_tail_rescan(j);
    }
    if (j->need_init) {
        /* the checkpoint loads share the connection with the batches */
        if (lb_tail_drain(j) != LB_T_OK)
            return;
        for (size_t i = 0; i < j->nf && j->up && !j->fatal; i++)
            if (!j->f[i]->inited && lb_tail_init(j, j->f[i]) != LB_T_OK)
                return;
        j->need_init = 0;
    }
    for (int n = 0; n < LB_TAIL_TURN_FILES && j->up && !j->fatal && j->dhead != NULL; n++) {
        struct lb_tfile *tf = lb_tail_pop_dirty(j);
        int rc = lb_tail_service(j, tf);
        if (rc == LB_T_OK) {
            tf->dirty = 0;
        } else if (rc == LB_T_MORE) {
            tf->dirty = 0;
            lb_tail_dirty(j, tf);
        } else if (rc == LB_T_BLOCKED) {
            lb_tail_push_front(j, tf);
            return;
        } else {
            tf->dirty = 0;
            return;
        }
    }
}

static int lb_tail_events(struct lb_tail *j, int timeout_ms)
{
    struct epoll_event evs[8];
    int n = epoll_wait(j->ep, evs, 8, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        switch (evs[i].data.u32) {
        case LB_EV_INOTIFY:
            if (lb_watchset_drain(j->ws, lb_tail_on_event, j, &j->err) != 0) {
                lb_error_log("%s", j->err.msg);
                j->fatal = 1;
            }
            break;
        case LB_EV_TIMER: {
            uint64_t x;
            if (read(j->tfd, &x, sizeof(x)) < 0 && errno != EAGAIN)
                lb_debug("timerfd: %s", strerror(errno));
            j->armed = -1; /* fired (or about to): re-arm */
            break;
        }
        case LB_EV_STOP:
            /* The process's stop eventfd: shared, never read; the loop
             * ends at once, before it would poll it again. */
            j->stop = 1;
            break;
        case LB_EV_REDIS:
            lb_tail_on_redis(j);
            break;
        }
    }
    return 0;
}

static int lb_tail_loop(struct lb_tail *j)
{
    for (;;) {
        if (j->env->stop != NULL && atomic_load(j->env->stop))
            j->stop = 1;
        if (j->fatal || j->stop)
            break;
        if (j->up)
            lb_tail_work(j);
        if (j->fatal || j->stop)
            break;
        /* --once drains every generation it knows: one rotated away is
         * finished --rotate-wait after its last change (late writers), then
         * the next one is read, the file at the path last. */
        if (j->o->once && j->up && j->dhead == NULL && !j->need_init && !j->rescan &&
            j->ndraining == 0) {
            if (lb_tail_drain(j) != LB_T_OK)
                continue; /* down: wait for redis, then read again */
            break;
        }
        lb_tail_arm(j);
        int busy = j->up && (j->dhead != NULL || j->need_init || j->rescan);
        if (lb_tail_events(j, busy ? 0 : -1) != 0) {
            lb_error_log("epoll_wait: %s", strerror(errno));
            j->fatal = 1;
            break;
        }
        lb_tail_due(j);
    }
    /* Stopping: read what the files hold now and commit it (for at most
     * 2 s, as a writer may never pause), so that what was written before the
     * signal is in the stream, as an operator stopping a shipper expects. */
    if (j->stop && !j->fatal && j->up) {
        if (lb_watchset_drain(j->ws, lb_tail_on_event, j, &j->err) != 0)
            lb_debug("%s", j->err.msg);
        for (size_t i = 0; i < j->nf; i++)
            lb_tail_dirty(j, j->f[i]);
        double deadline = lb_clock_mono() + 2.0;
        while (j->up && !j->fatal && (j->dhead != NULL || j->need_init) &&
               lb_clock_mono() < deadline) {
            if (lb_tail_drain(j) != LB_T_OK)
                break;
            lb_tail_work(j);
        }
    }
    if (j->up && !j->fatal)
        lb_tail_drain(j);
    if (!j->up && j->cm_tf != NULL && !j->fatal)
        lb_warn_kv(LB_FIELDS(LB_F_STR("src", j->cm_tf->src), LB_F_U64("off", j->cm_tf->ck_off)),
                   "stopping while redis at %s is unreachable or refusing: committed up to the "
                   "checkpoint; the rest is read again on the next start",
                   lb_redis_addr(j->r));
    return j->fatal ? LB_EXIT_RUNTIME : LB_EXIT_OK;
}

/* ---- setup ---------------------------------------------------------------------------------- */

static int lb_tail_epoll_add(struct lb_tail *j, int fd, uint32_t tag)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u32 = tag;
    return epoll_ctl(j->ep, EPOLL_CTL_ADD, fd, &ev);
}

static void lb_tail_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void lb_tail_free(struct lb_tail *j)
{
    for (size_t i = 0; i < j->nf; i++)
        lb_tfile_free(j, j->f[i]);
    free(j->f);
    while (j->dirs != NULL) {
        struct lb_tdir *d = j->dirs;
        j->dirs = d->next;
        for (size_t k = 0; k < d->nglobs; k++)
            free(d->globs[k]);
        free(d->globs);
        free(d->path);
        free(d);
    }
    free(j->retired);
    lb_watchset_destroy(j->ws);
    if (j->ep >= 0)
        close(j->ep);
    if (j->tfd >= 0)
        close(j->tfd);
    lb_committer_destroy(j->cm);
    lb_sink_destroy(j->sink);
    lb_feed_destroy(j->feed);
    lb_redis_destroy(j->r);
}

/* The job's parts: its Redis connection (not connected yet), sink, feed and
 * committer, and its series (the counters at 0 from the start). Returns 0,
 * or LB_ENOMEM (the caller logs it; lb_tail_free frees what was made). */
static int lb_tail_parts(struct lb_tail *j, const struct lb_redis_cfg *cfg)
{
    const struct lb_tail_opts *o = j->o;
    const struct lb_common *c = j->c;
    struct lb_sink_opts so = {
        .stream = o->stream,
        .provenance = c->provenance,
        .json_encoding = c->json_encoding,
        .json_field = c->json_field,
        .maxlen = o->maxlen,
        .trim_ignore_groups = o->trim_ignore_groups,
        .batch_max = (size_t)o->batch,
    };
    j->r = lb_redis_create(cfg);
    if (j->r != NULL) {
        lb_redis_set_route(j->r, o->stream);
        lb_redis_allow_ask(j->r);
    }
    j->sink = lb_sink_create(&so, &j->err);
    j->feed = lb_feed_create(c->jsonl, c->json_encoding, c->max_line + 1 + 256 * 1024, &j->err);
    j->m = j->env->metrics;
    j->lag_next = lb_clock_mono() + LB_TAIL_LAG_SEC;
    lb_metrics_labels(j->l_stream, sizeof(j->l_stream), "stream", o->stream, NULL);
    lb_job_labels(j->env, "tail", j->l_job, sizeof(j->l_job));
    lb_metrics_batch_declare(j->m, j->l_job);
    lb_metrics_add(j->m, "logbridge_wait_shortfalls_total", "", 0);
    lb_job_report(j->env, j->l_job, LB_HEALTH_STARTING, "connecting to redis");
    j->cm = lb_committer_create(j->sink, j->feed, j->r, LB_TAIL_FLIGHTS, lb_tail_on_ckpt, j);
    if (j->r == NULL || j->sink == NULL || j->feed == NULL || j->cm == NULL)
        return LB_ENOMEM;
    return 0;
}

/* The first connection: up, or down and retried with backoff by the loop
 * (the files wait). Returns 0, or an error that stops the job (logged). */
static int lb_tail_connect(struct lb_tail *j)
{
    int rc = lb_redis_connect(j->r, &j->err);
    if (rc == 0) {
        j->up = 1;
        lb_job_report(j->env, j->l_job, LB_HEALTH_OK, NULL);
        lb_tail_watch_redis(j);
    } else if (rc == LB_EREDIS) {
        lb_tail_down(j, NULL);
    } else {
        lb_error_log("%s", j->err.msg);
        return rc;
    }
    return 0;
}

int lb_tail_run(const struct lb_tail_opts *o, const struct lb_common *c,
                const struct lb_job_env *env)
{
    struct lb_tail j;
    memset(&j, 0, sizeof(j));
    j.o = o;
    j.c = c;
    j.env = env;
    j.ep = j.tfd = -1;
    j.armed = INFINITY;
    int rc = LB_EXIT_RUNTIME;
    lb_tail_raise_nofile();

    struct lb_redis_cfg cfg;
    if (lb_common_redis_cfg(c, &cfg, &j.err) != 0) {
        lb_error_log("--redis: %s", j.err.msg);
        return LB_EXIT_USAGE;
    }
    if (lb_tail_parts(&j, &cfg) != 0) {
        lb_error_log("out of memory");
        goto done;
    }

    j.ep = epoll_create1(EPOLL_CLOEXEC);
    j.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (j.ep < 0 || j.tfd < 0 || lb_tail_epoll_add(&j, j.tfd, LB_EV_TIMER) != 0) {
        lb_error_log("epoll/timerfd: %s", strerror(errno));
        goto done;
    }
    /* Signals are the signal thread's (signals.h): the job only sees its
     * stop eventfd, and SIGHUP concerns no file of a tail job. */
    if (env->stop_fd < 0 || lb_tail_epoll_add(&j, env->stop_fd, LB_EV_STOP) != 0) {
        lb_error_log("epoll (stop eventfd): %s", env->stop_fd < 0 ? "none given" : strerror(errno));
        goto done;
    }
    if (!o->once) {
        j.ws = lb_watchset_create(&j.err);
        if (j.ws == NULL || lb_tail_epoll_add(&j, lb_watchset_fd(j.ws), LB_EV_INOTIFY) != 0) {
            lb_error_log("%s", j.ws == NULL ? j.err.msg : strerror(errno));
            goto done;
        }
    }
    if (lb_tail_routes(&j) != 0) {
        lb_error_log("%s", j.err.msg);
        goto done;
    }
    lb_job_redis_metrics_init(j.m);
    int crc = lb_tail_connect(&j);
    if (crc != 0) {
        if (crc == LB_EUSAGE) /* e.g. a stream a cluster cannot hold in one slot */
            rc = LB_EXIT_USAGE;
        goto done;
    }
    lb_info_kv(LB_FIELDS(LB_F_STR("stream", o->stream)), "tail: following %zu file(s)%s", j.nf,
               o->once ? " (once)" : "");
    rc = lb_tail_loop(&j);
done:
    if (j.m != NULL)
        lb_tail_refresh_lag(&j);
    lb_job_report(env, j.l_job, rc == LB_EXIT_OK ? LB_HEALTH_DONE : LB_HEALTH_FAILED,
                  rc == LB_EXIT_OK ? NULL : j.err.msg);
    lb_tail_free(&j);
    return rc;
}

/* ---- options --------------------------------------------------------------------------------- */

#define LB_T struct lb_tail_opts
static const struct lb_opt lb_tail_opt_table[] = {
    LB_OPT_STR("stream", LB_T, stream, "a stream name", "S",
               "target stream, or a template such as 'events:%{type}'", LB_OPTF_REQUIRED),
    LB_OPT_CHOICE("from", LB_T, from_end, "start|end", "start|end",
                  "where a file without a checkpoint starts (default start)", LB_OPTF_NUMOK),
    LB_OPT_NUM("batch", LB_ARG_INT, LB_T, batch, 1, 100000, "a number from 1 to 100000", "N",
               "most lines per atomic batch (default 1000)", 0),
    LB_OPT_NUM("maxlen", LB_ARG_INT, LB_T, maxlen, 1, LLONG_MAX, "a positive integer", "N",
               "trim the stream to about N entries, never dropping\n"
               "entries a consumer group has not read and acknowledged",
               0),
    LB_OPT_FLAG("trim-ignore-groups", LB_T, trim_ignore_groups, 1,
                "trim to --maxlen even past unread entries", 0),
    LB_OPT_NUM("rotate-wait", LB_ARG_DOUBLE, LB_T, rotate_wait, 0, 86400, "seconds from 0 to 86400",
               "SEC",
               "keep reading a rotated-away file for SEC s after its\n"
               "last change (default 5)",
               0),
    LB_OPT_STR("name", LB_T, name, "a name", "NAME",
               "src name instead of the absolute path (one PATH only)", 0),
    LB_OPT_FLAG("once", LB_T, once, 1, "read what is there now, commit, exit", 0),
    LB_OPT_FLAG("allow-missing-dirs", LB_T, allow_missing_dirs, 1,
                "a directory of a PATH or GLOB that does not exist\n"
                "(yet) is waited for instead of an error",
                0),
    LB_OPT_END,
};
#undef LB_T

const struct lb_optspec lb_tail_optspec = {
    .usage = "Usage: logbridge tail --stream S [options] PATH|GLOB...\n"
             "Follow live files (inotify) and append each line to stream S, exactly once,\n"
             "across restarts, rotation (rename, copytruncate, delete) and Redis outages.\n"
             "A GLOB (wildcards in the file name only, e.g. '/var/log/app/*.log') also\n"
             "picks up files created later; let it match the live names only, not the\n"
             "rotated ones (app.log.1): those are found and finished by the rotation logic.\n",
    .opts = lb_tail_opt_table,
    .common_off = offsetof(struct lb_tail_opts, c),
    .operands = 1,
    .input = 1,
    .serve = 1,
};

int lb_tail_opts_parse(struct lb_tail_opts *o, int argc, char **argv, const struct lb_cli *cli)
{
    memset(o, 0, sizeof(*o));
    lb_common_defaults(&o->c);
    o->batch = LB_TAIL_DEFAULT_BATCH;
    o->rotate_wait = LB_TAIL_DEFAULT_ROTATE_WAIT;
    int first;
    int rc = lb_opts_parse(&lb_tail_optspec, o, argc, argv, cli, &first);
    if (rc != 0)
        return rc;
    o->paths = argv + first;
    o->npaths = argc - first;
    const char *paths_opt = cli->prefix != NULL ? "paths" : NULL;
    if (o->npaths == 0)
        return lb_cli_error(cli, paths_opt, "expected at least one PATH or GLOB");
    for (int i = 0; i < o->npaths; i++) {
        const char *p = o->paths[i];
        const char *slash = strrchr(p, '/');
        if (*p == '\0' || (slash != NULL && slash[1] == '\0'))
            return lb_cli_error(cli, paths_opt, "'%s' is not a file name", p);
        if (slash != NULL && strpbrk(p, "*?[") != NULL && strpbrk(p, "*?[") < slash)
            return lb_cli_error(cli, paths_opt,
                                "'%s': wildcards are supported in the file name only, not in "
                                "directories",
                                p);
    }
    if (o->name != NULL && (o->npaths > 1 || lb_has_glob(o->paths[0])))
        return lb_cli_error(cli, "name", "applies to a single file (one PATH, not a GLOB)");
    return 0;
}

static int lb_tail_job(void *arg, const struct lb_job_env *env)
{
    const struct lb_tail_opts *o = arg;
    return lb_tail_run(o, &o->c, env);
}

int lb_cmd_tail(int argc, char **argv)
{
    struct lb_tail_opts o;
    struct lb_cli cli = {"tail", NULL};
    int rc = lb_tail_opts_parse(&o, argc, argv, &cli);
    if (rc != 0)
        return rc < 0 ? LB_EXIT_OK : rc;
    return lb_job_standalone(&o.c, &cli, lb_tail_job, &o);
}
