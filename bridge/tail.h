/*
 * tail.h - `logbridge tail`: follow live files with inotify and append each
 * line to a stream, exactly once, across rotation, restarts and Redis outages
 * (DESIGN.md sections 4 and 5).
 *
 * One tail job is one event loop (epoll over an inotify fd, the process's
 * stop eventfd, and a timerfd) with its own Redis connection. `run`
 * parses a config entry into struct lb_tail_opts with lb_tail_opts_parse and
 * runs it in a thread with lb_tail_run.
 */
#ifndef LB_TAIL_H
#define LB_TAIL_H

#include "cli.h"
#include "jobs.h"

#define LB_TAIL_DEFAULT_BATCH 1000
#define LB_TAIL_DEFAULT_ROTATE_WAIT 5.0

/* The parsed options of one tail job. Strings point into the argv given to
 * lb_tail_opts_parse (which must outlive the job). */
struct lb_tail_opts {
    struct lb_common c;
    const char *stream;     /* --stream (a name or a template), required */
    int from_end;           /* --from end: a file without a checkpoint starts at its end */
    long long batch;        /* --batch: lines per atomic batch (default 1000) */
    long long maxlen;       /* --maxlen: 0 = no trimming */
    int trim_ignore_groups; /* --trim-ignore-groups */
    double rotate_wait;     /* --rotate-wait SEC (default 5) */
    const char *name;       /* --name: src of a single file (NULL: the absolute path) */
    int once;               /* --once: read what is there now, commit, return */
    int allow_missing_dirs; /* --allow-missing-dirs: wait for a directory that does not exist */
    char **paths;           /* PATHs and GLOBs */
    int npaths;
};

/* Parse tail options (argv[0] = "tail"); cli->prefix non-NULL means they come
 * from a config entry (`run`), so errors name e.g. "tail[0].maxlen" (printed
 * with lb_cli_error). Returns 0, -1 after printing --help or --version (the
 * command exits 0), or LB_EXIT_USAGE after printing the error. Strings point
 * into argv. Uses getopt (resets optind): not thread-safe, call it before
 * starting threads. */
int lb_tail_opts_parse(struct lb_tail_opts *o, int argc, char **argv, const struct lb_cli *cli);

/* tail's option table (opts.h): its --help, and the keys of a config's tail entries. */
struct lb_optspec;
extern const struct lb_optspec lb_tail_optspec;

/* Run one tail job until env->stop_fd becomes readable / *env->stop is set
 * (or, with --once, until what was there at start is committed): commit what
 * was read and return 0; LB_EXIT_RUNTIME (3) on a fatal error (logged);
 * LB_EXIT_USAGE (2) when c->redis_url does not parse (e.g. from the env).
 * c: the common options in effect (Redis URL, format, encoding, max-line,
 * metrics file); lb_cmd_tail passes &o->c, `run` may pass its merged ones.
 * env->stop_fd must be an eventfd (job.h; -1 is a fatal error): the job
 * adds it to its epoll set and never touches signals (the signal thread
 * reopens logbridge's log on SIGHUP; a tail job has no file of its own to
 * reopen).
 * env->metrics: the process's registry (NULL: nobody reads metrics); the
 * job updates it, and its owner (service.h) writes and serves it. */
int lb_tail_run(const struct lb_tail_opts *o, const struct lb_common *c,
                const struct lb_job_env *env);

#endif
