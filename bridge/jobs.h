/*
 * jobs.h - the entry point of each command.
 *
 * lb_cmd_* are called by main with the arguments after the command name
 * (argv[0] is the command) and return the process exit code (DESIGN.md
 * section 5).
 */
#ifndef LB_JOBS_H
#define LB_JOBS_H

#include "job.h" /* struct lb_job_env: what tail and mirror are given */

int lb_cmd_import(int argc, char **argv);
int lb_cmd_tail(int argc, char **argv);
int lb_cmd_mirror(int argc, char **argv);
int lb_cmd_export(int argc, char **argv);
int lb_cmd_parity(int argc, char **argv);
int lb_cmd_status(int argc, char **argv);
int lb_cmd_run(int argc, char **argv);
int lb_cmd_check_config(int argc, char **argv);

#endif
