/*
 * error.h - how modules below main report failure.
 *
 * Functions return 0 (or a count) on success and a negative enum lb_err on
 * failure; the details go into a caller-owned struct lb_error. Only the loop
 * that can decide what to do (retry, skip, stop) logs them.
 */
#ifndef LB_ERROR_H
#define LB_ERROR_H

#include <stdarg.h>

enum lb_err {
    LB_OK = 0,
    LB_ENOMEM = -1,
    LB_EIO = -2,     /* file I/O: fatal for the file */
    LB_EREDIS = -3,  /* connection lost or refused: retry with backoff */
    LB_EAUTH = -4,   /* password refused: never retried */
    LB_EREPLY = -5,  /* Redis answered with an error: not a connection problem */
    LB_ECKPT = -6,   /* a checkpoint that cannot be trusted */
    LB_EUSAGE = -7,  /* bad option or config */
    LB_ESTOP = -8,   /* a stop was requested while waiting */
    LB_ETIMEOUT = -9 /* gave up retrying */
};

struct lb_error {
    int code;
    char msg[256];
};

/* Records code and message in err (which may be NULL); returns code so that
 * callers can write `return lb_error_set(err, LB_EIO, "...")`. */
int lb_error_set(struct lb_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Process exit codes, DESIGN.md section 5. */
enum lb_exit { LB_EXIT_OK = 0, LB_EXIT_DIFF = 1, LB_EXIT_USAGE = 2, LB_EXIT_RUNTIME = 3 };

/* The exit code of a job that stopped for code: a usage error found only
 * once connected (a stream a cluster cannot hold in one slot) is still 2. */
static inline int lb_exit_for(int code)
{
    return code == LB_EUSAGE ? LB_EXIT_USAGE : LB_EXIT_RUNTIME;
}

#endif
