/*
 * signals.h - the process's one signal model: one thread owns SIGINT,
 * SIGTERM and SIGHUP, for a standalone command and for `run` alike.
 *
 * lb_signals_start, called before any other thread exists, blocks the three
 * signals in the calling thread (every thread created later inherits the
 * mask, so no job is ever interrupted by a handler in the middle of a write),
 * ignores SIGPIPE, and starts a thread that waits for them (sigwaitinfo):
 *  - SIGINT/SIGTERM: lb_signals_stop(): set lb_stop_flag, then make the stop
 *    eventfd readable. The eventfd is never read, so it stays readable and
 *    every loop of every thread sees it;
 *  - SIGHUP: reopen logbridge's own log, then bump the generation lb_hup_flag
 *    (a job reopens its own output files when it changes).
 *
 * How each loop waits for a stop: the event loops (tail's epoll, run's main
 * thread) have the stop eventfd in their set; a loop that blocks elsewhere
 * for a bounded time (mirror's XREAD BLOCK <= 1000 ms, a backoff sleep) looks
 * at the flag; import's read of a pipe (stdin) polls it together with the
 * stop eventfd, since a read of an idle pipe would never return
 * (source.c, lb_source_stop_on).
 *
 * Both are C11 atomics (threads share them). The SIGHUP counter is a
 * generation: the signal thread increments it and nobody resets it. Each
 * consumer keeps the last generation it acted on and acts when the counter
 * differs (lb_signals_hup_changed). A reset by a reader could swallow a
 * SIGHUP that arrived between its load and its store.
 *
 * Signals are expected process-directed (kill(1), Ctrl-C, systemd). One
 * directed at a thread (raise(3) from a blocked thread) stays pending on that
 * thread and is not seen; tests use kill(getpid(), sig).
 */
#ifndef LB_SIGNALS_H
#define LB_SIGNALS_H

#include <signal.h>
#include <stdatomic.h>

#include "error.h"

extern atomic_int lb_stop_flag; /* SIGINT/SIGTERM: commit what was read and exit */
extern atomic_uint lb_hup_flag; /* SIGHUP generation: reopen files when it changes */

/* Block SIGINT/SIGTERM/SIGHUP, ignore SIGPIPE, create the stop eventfd and
 * start the signal thread. Call it before creating any thread; a second call
 * does nothing. Returns 0, or LB_EIO with err set (nothing is started then,
 * and the signals keep their default action). */
int lb_signals_start(struct lb_error *err);

/* The stop eventfd (readable once a stop is requested; never read, never
 * closed), or -1 before lb_signals_start. */
int lb_signals_stop_fd(void);

/* Request a stop as SIGTERM does (run: a job failed, stop the others).
 * Thread-safe and idempotent. */
void lb_signals_stop(void);

/* Has the SIGHUP generation *hup moved past *seen? If so, record it in *seen
 * and return 1 (the caller reopens once, however many SIGHUPs it covers);
 * else 0. A SIGHUP that arrives while the caller reopens moves *hup again and
 * is seen on the next call. Unsigned wrap-around is harmless: only equality
 * is compared. */
int lb_signals_hup_changed(atomic_uint *hup, unsigned *seen);

#endif
