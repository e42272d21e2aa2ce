/*
 * service.h - what a long-running process (tail, mirror, run) serves to its
 * operator while its jobs run: the metrics registry, written to the
 * --metrics-file every 5 s by a thread of its own (so the file stays fresh
 * while a job waits for Redis), the jobs' health, and the --http server
 * (/metrics and /health). One for the process; each job gets a slot
 * (lb_job_env_serve, job.h).
 *
 *  1. lb_service_start, after lb_signals_start (its threads inherit the
 *     blocked signals): the registry (on when there is a metrics file or
 *     --http), the writer, the server;
 *  2. the jobs run and report (job.h);
 *  3. lb_service_stop, after the jobs returned: the server and the writer
 *     stop, the metrics file is written one last time.
 */
#ifndef LB_SERVICE_H
#define LB_SERVICE_H

#include "cli.h"
#include "error.h"
#include "health.h"
#include "metrics.h"

struct lb_service;

/* Returns the service, or NULL with err: LB_EUSAGE when --http cannot be
 * served (the message names the address, not the option: the caller names
 * it as the operator wrote it), LB_ENOMEM or LB_EIO otherwise. */
struct lb_service *lb_service_start(const struct lb_common *c, struct lb_error *err);

/* lb_service_start for a command line: an error is printed naming the
 * option as cli says ("logbridge tail: --http: 127.0.0.1:80: cannot listen:
 * Permission denied"). Returns 0 with *out set, or the exit code: 2 when
 * --http cannot be served, 3 otherwise. */
int lb_service_open(const struct lb_common *c, const struct lb_cli *cli, struct lb_service **out);

/* The registry (NULL when neither a metrics file nor --http asks for it)
 * and the health table. */
struct lb_metrics *lb_service_metrics(const struct lb_service *s);
struct lb_health *lb_service_health(const struct lb_service *s);

/* Stop serving, write the metrics file a last time (a failure is logged),
 * free. NULL: nothing. */
void lb_service_stop(struct lb_service *s);

#endif
