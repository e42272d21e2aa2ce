/*
 * config.h - the JSON config of `logbridge run` and `check-config`.
 *
 * The config is one JSON object whose keys are the long options with '-' ->
 * '_' (DESIGN.md section 5). The top level holds the common options (redis,
 * format, log_level, metrics_file, ...) and two arrays of jobs, "tail" and
 * "mirror". This module checks the shape of the file (syntax, unknown keys,
 * value types, required keys) and turns each entry into the argv its job's
 * own option parser takes, so that a config value and a command-line option
 * are checked by the same code:
 *
 *   {"redis": "unix:///run/redis.sock", "tail": [{"paths": ["/var/log/a.log"],
 *    "stream": "app", "maxlen": 100000, "once": false}]}
 *   -> tail --redis=unix:///run/redis.sock --stream=app --maxlen=100000 -- /var/log/a.log
 *
 * Top-level common options come first in each job's argv, so that an entry's
 * own value of the same option (e.g. a job with its own "redis") wins.
 * Booleans: true -> --flag, false -> nothing (every flag is off by default).
 * Arrays: "paths" -> positional arguments after "--"; "exclude_src" -> the
 * option repeated. Errors name the config path: "tail[0].maxlen: expected a
 * number", "tail[1].pathz: unknown key", "line 3: invalid JSON ...".
 */
#ifndef LB_CONFIG_H
#define LB_CONFIG_H

#include <stddef.h>

#include "cli.h"
#include "error.h"

enum lb_config_kind { LB_CONFIG_TAIL, LB_CONFIG_MIRROR };

struct lb_config_job {
    enum lb_config_kind kind;
    char prefix[32]; /* "tail[0]": how errors name this entry */
    int argc;
    char **argv; /* argv[0] = "tail" or "mirror"; NULL-terminated; owned by the config */
};

struct lb_config {
    struct lb_common c; /* the top level's common options; strings owned by the config */
    struct lb_config_job *jobs;
    int njobs, ntail, nmirror; /* jobs: the tail entries first, then the mirror entries */
    char **strs;               /* every string the config owns, freed by destroy */
    size_t nstrs, capstrs;
};

/* Parse config text (n bytes). Returns the config, or NULL with err set:
 * LB_EUSAGE with a message that starts with the config path ("tail[0].maxlen:
 * ..." or "line 3: invalid JSON ..."), or LB_ENOMEM. Values that only a job's
 * option parser can judge (e.g. "maxlen": "lots") are left to it.
 * Free with lb_config_destroy. */
struct lb_config *lb_config_parse(const char *text, size_t n, struct lb_error *err);

/* Read and parse the file at path. LB_EIO when it cannot be read. */
struct lb_config *lb_config_load(const char *path, struct lb_error *err);

void lb_config_destroy(struct lb_config *cfg);

#endif
