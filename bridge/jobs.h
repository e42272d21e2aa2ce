/*
 * jobs.h - the entry point of each command, and what a long-running job gets
 * from whoever runs it (the command itself, or `run` with several jobs).
 *
 * lb_cmd_* are called by main with the arguments after the command name
 * (argv[0] is the command) and return the process exit code (DESIGN.md
 * section 5).
 */
#ifndef LB_JOBS_H
#define LB_JOBS_H

#include <stdatomic.h>

#include "metrics.h"

int lb_cmd_import(int argc, char **argv);
int lb_cmd_tail(int argc, char **argv);
int lb_cmd_mirror(int argc, char **argv);
int lb_cmd_export(int argc, char **argv);
int lb_cmd_parity(int argc, char **argv);
int lb_cmd_status(int argc, char **argv);
int lb_cmd_run(int argc, char **argv);
int lb_cmd_check_config(int argc, char **argv);

/*
 * What a long-running job (tail, mirror) is given. Standalone, the command
 * fills it from its own signal handling; under `run`, each job runs in its
 * own thread with its own Redis connection, and the main thread owns the
 * signals:
 *  - stop_fd: an eventfd that becomes readable when the job must commit what
 *    it has read and return 0 (-1 when the job watches signals itself);
 *  - stop: set at the same time (for loops that are not in epoll, e.g. a
 *    mirror in XREAD BLOCK <= 1000 ms);
 *  - hup: a generation incremented on SIGHUP and never reset; a job keeps
 *    the last value it acted on and reopens its own output files (mirror
 *    files) when it differs (lb_signals_hup_changed);
 *  - metrics: shared and thread-safe (lb_metrics_* lock internally).
 */
struct lb_job_env {
    int stop_fd;
    atomic_int *stop;
    atomic_uint *hup;
    struct lb_metrics *metrics;
};

#endif
