/*
 * signals.c - async-signal-safe handlers that only touch lock-free atomics.
 */
#include "signals.h"

#include <string.h>

/* A handler may only touch lock-free atomic objects (C11 7.14.1.1). */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomic_int must be lock-free for the signal flags");

atomic_int lb_stop_flag;
atomic_uint lb_hup_flag;

static void lb_on_stop(int sig)
{
    (void)sig;
    atomic_store(&lb_stop_flag, 1);
}

static void lb_on_hup(int sig)
{
    (void)sig;
    atomic_fetch_add(&lb_hup_flag, 1u); /* a generation: consumers compare, never reset */
}

int lb_signals_hup_changed(atomic_uint *hup, unsigned *seen)
{
    unsigned now = atomic_load(hup);
    if (now == *seen)
        return 0;
    *seen = now;
    return 1;
}

void lb_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = lb_on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = lb_on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}
