/*
 * run.c - `logbridge run --config FILE` and `logbridge check-config`.
 *
 * `run` is the service form: every tail and mirror entry of the config runs
 * in its own thread with its own Redis connection, and the main thread owns
 * the process: the metrics file and the fate of the jobs (signals are the
 * signal thread's).
 *
 *  1. The config is checked whole before anything starts (config.c for its
 *     shape, then each entry through its job's own option parser), so a bad
 *     config is exit 2 with nothing half-started.
 *  2. The signal thread (signals.h) starts before the first job thread, so
 *     every job inherits the blocked mask: no job is ever interrupted by a
 *     handler. Every job's environment is the signal thread's (job.h).
 *  3. SIGINT/SIGTERM: the signal thread sets the stop flag and the stop
 *     eventfd; each job commits what it has read and returns 0; the main
 *     thread joins them all, writes the metrics, exits 0. SIGHUP: the signal
 *     thread reopens logbridge's own log and bumps the hup generation, on
 *     which mirror jobs reopen their files.
 *  4. A job that returns non-zero (a fatal error it has logged) stops the
 *     others the same way (lb_signals_stop), and run exits 3: a supervisor (systemd
 *     Restart=on-failure) restarts the whole set, and every job resumes from
 *     its checkpoint.
 *  5. The metrics file is written by the main thread every 5 s (its
 *     lb_job_tick, the deadline of its poll) and once more after the jobs
 *     are joined; the jobs only count into the registry.
 */
#include "jobs.h"

#include "cli.h"
#include "clock.h"
#include "config.h"
#include "error.h"
#include "log.h"
#include "metrics.h"
#include "mirror.h"
#include "opts.h"
#include "signals.h"
#include "tail.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
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
    struct lb_run_job *jobs;
    int njobs;
    struct lb_metrics *metrics;
    struct lb_job_tick tick; /* the metrics file: the main thread writes it */
    int stopping;            /* the main thread has seen the stop (logged it) */
    int done_fd;             /* eventfd: a job's thread has returned */
};

/* ---- options ------------------------------------------------------------------- */

struct lb_run_opts {
    const char *config;
};

static const struct lb_opt lb_run_opt_table[] = {
    LB_OPT_STR("config", struct lb_run_opts, config, "a path", "FILE",
               "the JSON config: top-level common options (redis,\n"
               "format, encoding, json_field, no_provenance, max_line,\n"
               "log_level, log_format, log_file, metrics_file) and the\n"
               "arrays \"tail\" and \"mirror\" whose entries hold the long\n"
               "options of those commands with '-' -> '_' (\"paths\": the\n"
               "files and globs of a tail entry)",
               LB_OPTF_REQUIRED),
    LB_OPT_END,
};

static const struct lb_optspec lb_run_optspec = {
    .usage = "Usage: logbridge run --config FILE\n"
             "       logbridge check-config --config FILE\n"
             "Run every tail and mirror job of a JSON config in one process (run), or only\n"
             "check the config (check-config: exit 0 and \"config OK: N tail, M mirror jobs\",\n"
             "or exit 2 naming the config path of the first error).\n",
    .opts = lb_run_opt_table,
    .footer = "\n"
              "Signals: SIGHUP reopens the log file and the mirror files; SIGINT/SIGTERM\n"
              "commit what was read and exit 0. A job that fails stops the others: exit 3.\n",
    .common_off = LB_OPTS_NO_COMMON,
};

/* Returns 0 with *path set, -1 after --help/--version, or LB_EXIT_USAGE. */
static int lb_run_parse(int argc, char **argv, const char *cmd, const char **path)
{
    struct lb_cli cli = {cmd, NULL};
    struct lb_run_opts o = {NULL};
    int rc = lb_opts_parse(&lb_run_optspec, &o, argc, argv, &cli, NULL);
    *path = o.config;
    return rc;
}

/* ---- preparing the jobs -------------------------------------------------------------- */

static void lb_run_destroy(struct lb_run *run)
{
    if (run == NULL)
        return;
    free(run->jobs);
    if (run->done_fd >= 0)
        close(run->done_fd);
    lb_metrics_destroy(run->metrics);
    lb_config_destroy(run->cfg);
    free(run);
}

/* Load the config and parse every entry with its job's parser. Returns 0, or
 * LB_EXIT_USAGE after printing "logbridge CMD: FILE: path: message". */
static int lb_run_prepare(const char *cmd, const char *path, struct lb_run **out)
{
    *out = NULL;
    struct lb_run *run = calloc(1, sizeof(*run));
    if (run == NULL) {
        fprintf(stderr, "logbridge %s: out of memory\n", cmd);
        return LB_EXIT_RUNTIME;
    }
    run->done_fd = -1;
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
    struct lb_cli top = {label, NULL};
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
        lb_job_env_init(&run->jobs[i].env, run->metrics, NULL); /* the main thread writes it */
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

/* Milliseconds to wait in poll until the metrics are due (-1: no metrics),
 * rounded up: a wake-up before the deadline would only wait again. */
static int lb_run_timeout_ms(const struct lb_run *run)
{
    double due = lb_job_tick_due(&run->tick);
    if (due == INFINITY)
        return -1;
    double ms = ceil((due - lb_clock_mono()) * 1000.0);
    return ms <= 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
}

/* The main thread's loop: a stop, the metrics tick, finished jobs.
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
        int n = poll(pf, 2, lb_run_timeout_ms(run));
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
        if (lb_job_tick_is_due(&run->tick, lb_clock_mono()))
            lb_job_tick_write(&run->tick);
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
    const char *path;
    int rc = lb_run_parse(argc, argv, "run", &path);
    if (rc != 0)
        return rc < 0 ? LB_EXIT_OK : rc;
    struct lb_run *run;
    if ((rc = lb_run_prepare("run", path, &run)) != 0)
        return rc;
    /* The log file first, so that a bad one is named as the config names it. */
    const struct lb_common *c = &run->cfg->c;
    if (lb_log_open(c->log_level, c->log_json, c->log_file) != 0) {
        fprintf(stderr, "logbridge run: %s: log_file: %s: %s\n", path, c->log_file,
                strerror(errno));
        lb_run_destroy(run);
        return LB_EXIT_USAGE;
    }
    struct lb_cli cli = {"run", NULL};
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
    run->metrics = lb_metrics_create(run->cfg->c.metrics_file);
    if (run->metrics == NULL) {
        lb_error_log("out of memory");
        lb_run_destroy(run);
        lb_log_close();
        return LB_EXIT_RUNTIME;
    }
    lb_job_tick_init(&run->tick, run->metrics, run->cfg->c.metrics_file);
    lb_info("run: %d tail and %d mirror jobs from %s", run->cfg->ntail, run->cfg->nmirror, path);
    rc = lb_run_start(run);
    if (rc == 0) {
        rc = lb_run_loop(run);
    } else {
        lb_run_join_all(run);
    }
    lb_job_tick_write(&run->tick);
    lb_info("run: stopped (exit %d)", rc);
    lb_run_destroy(run);
    lb_log_close();
    return rc;
}

int lb_cmd_check_config(int argc, char **argv)
{
    const char *path;
    int rc = lb_run_parse(argc, argv, "check-config", &path);
    if (rc != 0)
        return rc < 0 ? LB_EXIT_OK : rc;
    struct lb_run *run;
    if ((rc = lb_run_prepare("check-config", path, &run)) != 0)
        return rc;
    printf("config OK: %d tail, %d mirror jobs\n", run->cfg->ntail, run->cfg->nmirror);
    lb_run_destroy(run);
    return LB_EXIT_OK;
}
