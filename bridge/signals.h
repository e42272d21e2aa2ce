/*
 * signals.h - the stop and reopen flags (the only globals besides the logger).
 *
 * Threads share these flags (the jobs of `run`, a job and its caller), so
 * they are C11 atomics, not `volatile sig_atomic_t` (a data race under C11).
 * Both are lock-free on every target we build for, so a handler may touch
 * them (C11 7.14.1.1).
 *
 * The SIGHUP counter is a generation: the handler increments it and nobody
 * resets it. Each consumer keeps the last generation it acted on and acts
 * when the counter differs (lb_signals_hup_changed). A reset by a reader
 * could swallow a SIGHUP that arrived between its load and its store.
 */
#ifndef LB_SIGNALS_H
#define LB_SIGNALS_H

#include <signal.h>
#include <stdatomic.h>

extern atomic_int lb_stop_flag; /* SIGINT/SIGTERM: commit and exit */
extern atomic_uint lb_hup_flag; /* SIGHUP generation: reopen files when it changes */

/* Install handlers for SIGINT, SIGTERM and SIGHUP (no SA_RESTART, so that a
 * blocking read returns EINTR), and ignore SIGPIPE. */
void lb_signals_install(void);

/* Has the SIGHUP generation *hup moved past *seen? If so, record it in *seen
 * and return 1 (the caller reopens once, however many SIGHUPs it covers);
 * else 0. A SIGHUP that arrives while the caller reopens moves *hup again and
 * is seen on the next call. Unsigned wrap-around is harmless: only equality
 * is compared. */
int lb_signals_hup_changed(atomic_uint *hup, unsigned *seen);

#endif
