/*
 * preflight.h - what a `run` config needs from this machine, checked before
 * anything starts (`check-config`, and `run` itself): what would otherwise
 * fail at runtime (exit 3, and a supervisor restarting it in a loop) fails
 * here with exit 2, naming the config path:
 *
 *   tail[0].paths[1]: directory /var/log/app does not exist (create it, or set
 *   "allow_missing_dirs": true in tail[0] to wait for it)
 *
 * Checked: paths are absolute (a service starts in /); the directories of
 * tailed paths exist (unless the entry allows them to appear later) and can
 * be read; a tailed path that exists is a readable regular file; the
 * directories of mirror files, the metrics file and the log file exist and
 * are writable (each is created or replaced there), and an existing one of
 * those files is writable. Permissions are the real user's (access(2)): run
 * check-config as the service's user.
 */
#ifndef LB_PREFLIGHT_H
#define LB_PREFLIGHT_H

#include "cli.h"
#include "error.h"
#include "mirror.h"
#include "tail.h"

/* Each returns 0 or LB_EUSAGE with err = "PATH: what is wrong". prefix:
 * "tail[0]" (entries) */
int lb_preflight_process(const struct lb_common *c, struct lb_error *err);
int lb_preflight_tail(const char *prefix, const struct lb_tail_opts *o, struct lb_error *err);
int lb_preflight_mirror(const char *prefix, const struct lb_mirror_opts *o, struct lb_error *err);

#endif
