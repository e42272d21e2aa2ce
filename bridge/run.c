/*
 * run.c - `logbridge run --config FILE` and `logbridge check-config`.
 *
 * `run` is the service form: every tail and mirror entry of the config runs
 * in its own thread with its own Redis connection, and the main thread owns
 * the process: the fate of the jobs, and the service that serves their
 * metrics and health (signals are the signal thread's).
 *
 *  1. The config is checked whole before anything starts (config.c for its
 *     shape, then each entry through its job's own option parser), so a bad
 *     config is exit 2 with nothing half-started.
 *  2. The signal thread (signals.h) starts before the first job thread, so
 *     every job inherits the blocked mask: no job is ever interrupted by a
 *     handler. Every job's environment is the signal thread's (job.h).
 *  3. SIGINT/SIGTERM: the signal thread sets the stop flag and the stop
 *     eventfd; each job commits what it has read and returns 0; the main
 *     thread joins them all, the last metrics are written, exits 0. SIGHUP: the signal
 *     thread reopens logbridge's own log and bumps the hup generation, on
 *     which mirror jobs reopen their files.
 *  4. A job that returns non-zero (a fatal error it has logged) stops the
 *     others the same way (lb_signals_stop), and run exits 3: a supervisor (systemd
 *     Restart=on-failure) restarts the whole set, and every job resumes from
 *     its checkpoint.
 *  5. The service (service.h) serves the metrics and the jobs' health: the
 *     metrics file every 5 s from its writer thread, and --http; it writes
 *     the file once more after the jobs are joined.
 */
#include "jobs.h"

#include "cli.h"
#include "config.h"
#include "error.h"
#include "log.h"
#include "metrics.h"
#include "mirror.h"
#include "opts.h"
#include "preflight.h"
#include "service.h"
#include "signals.h"
#include "tail.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct lb_run;

struct lb_run_job {
    const struct lb_config_job *cj;
    union {
        struct lb_tail_opts tail;
        struct lb_mirror_opts mirror;
    } o;
    struct lb_job_env env; /* the signal thread's, with run's metrics */
    struct lb_run *run;
    pthread_t thread;
    int started;
    int rc; /* written by the job's thread before `finished` */
    atomic_int finished;
};

struct lb_run {
    struct lb_config *cfg;
    const char *path; /* of the config */
    struct lb_run_job *jobs;
    int njobs;
    struct lb_service *svc;
    int stopping; /* the main thread has seen the stop (logged it) */
    int done_fd;  /* eventfd: a job's thread has returned */
};

/* ---- options ------------------------------------------------------------------- */

struct lb_run_opts {
    const char *config;
    int syntax_only; /* check-config --syntax-only: not the environment */
};

#define LB_RUN_CONFIG_OPT                                                                          \
    LB_OPT_STR("config", struct lb_run_opts, config, "a path", "FILE",                             \
               "the JSON config: top-level common options (redis,\n"                               \
               "format, encoding, json_field, no_provenance, max_line,\n"                          \
               "log_level, log_format, log_file, metrics_file, http) and the\n"                    \
               "arrays \"tail\" and \"mirror\" whose entries hold the long\n"                      \
               "options of those commands with '-' -> '_' (\"paths\": the\n"                       \
               "files and globs of a tail entry)",                                                 \
               LB_OPTF_REQUIRED)

static const struct lb_opt lb_run_opt_table[] = {
    LB_RUN_CONFIG_OPT,
    LB_OPT_END,
};

static const struct lb_opt lb_check_opt_table[] = {
    LB_RUN_CONFIG_OPT,
    LB_OPT_FLAG("syntax-only", struct lb_run_opts, syntax_only, 1,
                "check the config alone, not this machine (e.g. in CI)", 0),
    LB_OPT_END,
};

#define LB_RUN_USAGE                                                                               \
    "Usage: logbridge run --config FILE\n"                                                         \
    "       logbridge check-config [--syntax-only] --config FILE\n"                                \
    "Run every tail and mirror job of a JSON config in one process (run), or only\n"               \
    "check the config (check-config: exit 0 and \"config OK: N tail, M mirror jobs\",\n"           \
    "or exit 2 naming the config path of the first error). Both check this machine\n"              \
    "too: the directories of tailed paths exist (or the entry sets\n"                              \
    "\"allow_missing_dirs\"), paths are absolute, and the directories of mirror files,\n"          \
    "the metrics file and the log file are writable.\n"

#define LB_RUN_FOOTER                                                                              \
    "\n"                                                                                           \
    "Signals: SIGHUP reopens the log file and the mirror files; SIGINT/SIGTERM\n"                  \
    "commit what was read and exit 0. A job that fails stops the others: exit 3.\n"

static const struct lb_optspec lb_run_optspec = {
    .usage = LB_RUN_USAGE,
    .opts = lb_run_opt_table,
    .footer = LB_RUN_FOOTER,
    .common_off = LB_OPTS_NO_COMMON,
};

static const struct lb_optspec lb_check_optspec = {
    .usage = LB_RUN_USAGE,
    .opts = lb_check_opt_table,
    .footer = LB_RUN_FOOTER,
    .common_off = LB_OPTS_NO_COMMON,
};

/* Returns 0 with o set, -1 after --help/--version, or LB_EXIT_USAGE. */
static int lb_run_parse(int argc, char **argv, const char *cmd, struct lb_run_opts *o)
{
    struct lb_cli cli = {cmd, NULL};
    memset(o, 0, sizeof(*o));
    const struct lb_optspec *spec =
        strcmp(cmd, "check-config") == 0 ? &lb_check_optspec : &lb_run_optspec;
    return lb_opts_parse(spec, o, argc, argv, &cli, NULL);
}

/* ---- preparing the jobs -------------------------------------------------------------- */

static void lb_run_destroy(struct lb_run *run)
{
    if (run == NULL)
        return;
    free(run->jobs);
    if (run->done_fd >= 0)
        close(run->done_fd);
    lb_service_stop(run->svc);
    lb_config_destroy(run->cfg);
    free(run);
}

/* What the config needs from this machine (preflight.h). 0 or LB_EXIT_USAGE
 * after printing "logbridge CMD: FILE: path: message". */
static int lb_run_preflight(const char *cmd, const char *path, const struct lb_run *run)
{
    struct lb_error err = {0};
    int rc = lb_preflight_process(&run->cfg->c, &err);
    for (int i = 0; i < run->njobs && rc == 0; i++) {
        const struct lb_run_job *j = &run->jobs[i];
        if (j->cj->kind == LB_CONFIG_TAIL)
            rc = lb_preflight_tail(j->cj->prefix, &j->o.tail, &err);
        else
            rc = lb_preflight_mirror(j->cj->prefix, &j->o.mirror, &err);
    }
    if (rc == 0)
        return 0;
    fprintf(stderr, "logbridge %s: %s: %s\n", cmd, path, err.msg);
    return LB_EXIT_USAGE;
}

/* Load the config and parse every entry with its job's parser, then check
 * the environment (unless syntax_only). Returns 0, or LB_EXIT_USAGE after
 * printing "logbridge CMD: FILE: path: message". */
static int lb_run_prepare(const char *cmd, const char *path, int syntax_only, struct lb_run **out)
{
    *out = NULL;
    struct lb_run *run = calloc(1, sizeof(*run));
    if (run == NULL) {
        fprintf(stderr, "logbridge %s: out of memory\n", cmd);
        return LB_EXIT_RUNTIME;
    }
    run->done_fd = -1;
    run->path = path;
    struct lb_error err = {0};
    run->cfg = lb_config_load(path, &err);
    if (run->cfg == NULL) {
        fprintf(stderr, "logbridge %s: %s: %s\n", cmd, path, err.msg);
        lb_run_destroy(run);
        return err.code == LB_ENOMEM ? LB_EXIT_RUNTIME : LB_EXIT_USAGE;
    }
    run->jobs = calloc((size_t)run->cfg->njobs, sizeof(*run->jobs));
    if (run->jobs == NULL) {
        fprintf(stderr, "logbridge %s: out of memory\n", cmd);
        lb_run_destroy(run);
        return LB_EXIT_RUNTIME;
    }
    run->njobs = run->cfg->njobs;

    /* Messages of the jobs' parsers read "logbridge run: FILE: tail[0].maxlen: ..." */
    char label[PATH_MAX + 64];
    snprintf(label, sizeof(label), "%s: %s", cmd, path);
    /* The URL every job without its own "redis" uses: the config's (checked
     * when loaded) or LOGBRIDGE_REDIS (checked only here). */
    struct lb_cli top = {label, ""};
    if (lb_common_check_redis(&run->cfg->c, &top) != 0) {
        lb_run_destroy(run);
        return LB_EXIT_USAGE;
    }
    for (int i = 0; i < run->njobs; i++) {
        struct lb_run_job *j = &run->jobs[i];
        j->cj = &run->cfg->jobs[i];
        j->run = run;
        struct lb_cli cli = {label, j->cj->prefix};
        int rc;
        if (j->cj->kind == LB_CONFIG_TAIL)
            rc = lb_tail_opts_parse(&j->o.tail, j->cj->argc, j->cj->argv, &cli);
        else
            rc = lb_mirror_opts_parse(&j->o.mirror, j->cj->argc, j->cj->argv, &cli);
        if (rc != 0) {
            /* -1 would be --help: the config cannot say that, but be sure */
            lb_run_destroy(run);
            return LB_EXIT_USAGE;
        }
    }
    if (!syntax_only && lb_run_preflight(cmd, path, run) != 0) {
        lb_run_destroy(run);
        return LB_EXIT_USAGE;
    }
    *out = run;
    return 0;
}

/* ---- running ---------------------------------------------------------------------- */

static void *lb_run_thread(void *arg)
{
    struct lb_run_job *j = arg;
    int rc;
    if (j->cj->kind == LB_CONFIG_TAIL)
        rc = lb_tail_run(&j->o.tail, &j->o.tail.c, &j->env);
    else
        rc = lb_mirror_run(&j->o.mirror, &j->o.mirror.c, &j->env);
    j->rc = rc;
    atomic_store_explicit(&j->finished, 1, memory_order_release);
    uint64_t one = 1;
    ssize_t w = write(j->run->done_fd, &one, sizeof(one));
    (void)w; /* an eventfd write of 1 cannot fail short of overflow */
    return NULL;
}

/* Create the fds and start the threads. Returns 0 or LB_EXIT_RUNTIME (logged;
 * threads already started are stopped and joined by the caller). */
static int lb_run_start(struct lb_run *run)
{
    run->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (run->done_fd < 0) {
        lb_error_log("eventfd: %s", strerror(errno));
        return LB_EXIT_RUNTIME;
    }
    for (int i = 0; i < run->njobs; i++)
        if (lb_job_env_serve(&run->jobs[i].env, run->svc, run->jobs[i].cj->prefix) != 0) {
            lb_error_log("out of memory");
            return LB_EXIT_RUNTIME;
        }
    for (int i = 0; i < run->njobs; i++) {
        struct lb_run_job *j = &run->jobs[i];
        int e = pthread_create(&j->thread, NULL, lb_run_thread, j);
        if (e != 0) {
            lb_error_log("%s: cannot start a thread: %s", j->cj->prefix, strerror(e));
            return LB_EXIT_RUNTIME;
        }
        j->started = 1;
    }
    return 0;
}

static void lb_run_drain(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof(v)) > 0)
        ;
}

/* The main thread's loop: a stop, finished jobs.
 * Returns the exit code once every job has returned. */
static int lb_run_loop(struct lb_run *run)
{
    int exit_code = LB_EXIT_OK;
    int left = run->njobs;
    for (int i = 0; i < run->njobs; i++)
        left -= !run->jobs[i].started;
    while (left > 0) {
        /* The stop eventfd stays readable once set (it is never read):
         * watched until seen, then left out (fd -1: poll skips it). */
        struct pollfd pf[2] = {{run->stopping ? -1 : lb_signals_stop_fd(), POLLIN, 0},
                               {run->done_fd, POLLIN, 0}};
        int n = poll(pf, 2, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            lb_error_log("poll: %s", strerror(errno));
            lb_signals_stop();
            exit_code = LB_EXIT_RUNTIME;
            break;
        }
        if (pf[0].revents & POLLIN) {
            run->stopping = 1;
            lb_info("run: stopping %d jobs (each commits what it has read)", left);
        }
        if (pf[1].revents & POLLIN) {
            lb_run_drain(run->done_fd);
            for (int i = 0; i < run->njobs; i++) {
                struct lb_run_job *j = &run->jobs[i];
                if (!j->started || !atomic_load_explicit(&j->finished, memory_order_acquire))
                    continue;
                pthread_join(j->thread, NULL);
                j->started = 0;
                left--;
                if (j->rc != 0) {
                    exit_code = LB_EXIT_RUNTIME;
                    if (!atomic_load(&lb_stop_flag))
                        lb_error_log("%s failed (exit %d); stopping the other jobs: a restart "
                                     "resumes every job from its checkpoint",
                                     j->cj->prefix, j->rc);
                    else
                        lb_error_log("%s failed (exit %d) while stopping", j->cj->prefix, j->rc);
                    lb_signals_stop();
                } else {
                    lb_debug("%s finished", j->cj->prefix);
                }
            }
        }
    }
    return exit_code;
}

static void lb_run_join_all(struct lb_run *run)
{
    lb_signals_stop();
    for (int i = 0; i < run->njobs; i++) {
        if (run->jobs[i].started) {
            pthread_join(run->jobs[i].thread, NULL);
            run->jobs[i].started = 0;
        }
    }
}

int lb_cmd_run(int argc, char **argv)
{
    struct lb_run_opts o;
    int rc = lb_run_parse(argc, argv, "run", &o);
    if (rc != 0)
        return rc < 0 ? LB_EXIT_OK : rc;
    const char *path = o.config;
    struct lb_run *run;
    if ((rc = lb_run_prepare("run", path, 0, &run)) != 0)
        return rc;
    /* The log file first, so that a bad one is named as the config names it. */
    const struct lb_common *c = &run->cfg->c;
    if (lb_log_open(c->log_level, c->log_json, c->log_file) != 0) {
        fprintf(stderr, "logbridge run: %s: log_file: %s: %s\n", path, c->log_file,
                strerror(errno));
        lb_run_destroy(run);
        return LB_EXIT_USAGE;
    }
    struct lb_cli cli = {"run", ""}; /* the values are the config's */
    if ((rc = lb_common_start(c, &cli)) != 0) {
        lb_run_destroy(run);
        lb_log_close();
        return rc;
    }
    struct lb_error serr = {0};
    /* before the first job thread: every job inherits the blocked signals */
    if (lb_signals_start(&serr) != 0) {
        lb_error_log("%s", serr.msg);
        lb_run_destroy(run);
        lb_log_close();
        return LB_EXIT_RUNTIME;
    }
    run->svc = lb_service_start(c, &serr);
    if (run->svc == NULL) {
        if (serr.code == LB_EUSAGE) {
            fprintf(stderr, "logbridge run: %s: http: %s\n", path, serr.msg);
            rc = LB_EXIT_USAGE;
        } else {
            lb_error_log("%s", serr.msg);
            rc = LB_EXIT_RUNTIME;
        }
        lb_run_destroy(run);
        lb_log_close();
        return rc;
    }
    lb_info("run: %d tail and %d mirror jobs from %s", run->cfg->ntail, run->cfg->nmirror, path);
    rc = lb_run_start(run);
    if (rc == 0) {
        rc = lb_run_loop(run);
    } else {
        lb_run_join_all(run);
    }
    lb_info("run: stopped (exit %d)", rc);
    lb_run_destroy(run);
    lb_log_close();
    return rc;
}

int lb_cmd_check_config(int argc, char **argv)
{
    struct lb_run_opts o;
    int rc = lb_run_parse(argc, argv, "check-config", &o);
    if (rc != 0)
        return rc < 0 ? LB_EXIT_OK : rc;
    struct lb_run *run;
    if ((rc = lb_run_prepare("check-config", o.config, o.syntax_only, &run)) != 0)
        return rc;
    printf("config OK: %d tail, %d mirror jobs\n", run->cfg->ntail, run->cfg->nmirror);
    lb_run_destroy(run);
    return LB_EXIT_OK;
}
