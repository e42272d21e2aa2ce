/*
 * mirror.h - `logbridge mirror` (stream -> legacy file, exactly once) and
 * `logbridge export` (one-shot dump of a range), for the commands and for
 * `logbridge run`, which runs mirror jobs from a JSON config.
 *
 * Exactly once (DESIGN.md 4.2): a batch of entries is written to the file,
 * fdatasync'ed as --fsync says, and only then is {"id","size","dev","ino"}
 * recorded in hash logbridge:mirror:{T}, field = absolute path of the file.
 * On start, past the recorded size, its own unrecorded lines are recognised
 * among another writer's and it continues after them; nothing is ever
 * truncated (mirror.c, "Another writer"). A shorter file or another inode is
 * a new generation (logrotate): it continues after id.
 */
#ifndef LB_MIRROR_H
#define LB_MIRROR_H

#include "cli.h"
#include "jobs.h"
#include "stream_set.h"

#define LB_MIRROR_EXCLUDE_MAX 32 /* --exclude-src may be given this many times */

enum lb_mirror_fsync {
    LB_FSYNC_BATCH = 0, /* fdatasync once per batch, before the checkpoint (default) */
    LB_FSYNC_ALWAYS,    /* fdatasync after each entry */
    LB_FSYNC_NEVER      /* leave it to the kernel: a power loss may lose lines */
};

/*
 * The parsed options of one mirror job. Strings point into the argv given to
 * lb_mirror_opts_parse, which must outlive this struct.
 *
 * Common options found in argv (--redis, --json-field, --log-*, ...) land in
 * `c` (the standalone command uses it); under `run` the caller passes its own
 * struct lb_common to lb_mirror_run. A --json-field given to this job
 * (`json_field` non-NULL) wins over the struct lb_common's.
 */
struct lb_mirror_opts {
    struct lb_common c;
    struct lb_streams streams; /* every --stream (DESIGN.md section 8); v[0] names the job */
    const char *file;
    const char *from;       /* "0" (default), "$" or an ID; used only without a checkpoint */
    const char *json_field; /* NULL: the struct lb_common's */
    const char *exclude[LB_MIRROR_EXCLUDE_MAX];
    int nexclude;
    enum lb_mirror_fsync fsync;
    int once;
    long long count; /* entries per XREAD / batch (default 1000) */
};

/* Parse mirror options (argv[0] = "mirror"); cli->prefix non-NULL means they
 * come from a config entry (`run`), so errors name e.g. "mirror[0].fsync".
 * Returns 0, or LB_EXIT_USAGE after printing the error. --help/--version
 * print and return -1 (the command exits 0). Strings point into argv. */
int lb_mirror_opts_parse(struct lb_mirror_opts *o, int argc, char **argv, const struct lb_cli *cli);

/* mirror's option table (opts.h): its --help, and the keys of a config's mirror entries. */
struct lb_optspec;
extern const struct lb_optspec lb_mirror_optspec;

/* Run one mirror job until *env->stop is set or env->stop_fd becomes readable
 * (only polled, never read: it may be shared), or, with --once, until what
 * the stream held at start is written. Uses c->redis_url (and c->json_field
 * unless o->json_field); counts into env->metrics (NULL: no metrics, and no
 * XINFO calls for the lag gauge); writes the metrics at exit. Reopens the
 * file when *env->hup changes (logbridge's log is the signal thread's to
 * reopen, job.h). Thread-
 * safe for one job per thread (own connection; getopt in the parser is not).
 * Logs as it goes; returns an exit code: 0, or 3 (I/O error on the file, a
 * refused password, a checkpoint that cannot be read, a key that is not a
 * stream). Redis being down is retried forever. */
int lb_mirror_run(const struct lb_mirror_opts *o, const struct lb_common *c,
                  const struct lb_job_env *env);

#endif
