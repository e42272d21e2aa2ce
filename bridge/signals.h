/*
 * signals.h - the stop and reopen flags (the only globals besides the logger).
 */
#ifndef LB_SIGNALS_H
#define LB_SIGNALS_H

#include <signal.h>

extern volatile sig_atomic_t lb_stop_flag; /* SIGINT/SIGTERM: commit and exit */
extern volatile sig_atomic_t lb_hup_flag;  /* SIGHUP count: reopen files when it changes */

/* Install handlers for SIGINT, SIGTERM and SIGHUP (no SA_RESTART, so that a
 * blocking read returns EINTR), and ignore SIGPIPE. */
void lb_signals_install(void);

#endif
