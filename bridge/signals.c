/*
 * signals.c - async-signal-safe handlers that only set flags.
 */
#include "signals.h"

#include <string.h>

volatile sig_atomic_t lb_stop_flag;
volatile sig_atomic_t lb_hup_flag;

static void lb_on_stop(int sig)
{
    (void)sig;
    lb_stop_flag = 1;
}

static void lb_on_hup(int sig)
{
    (void)sig;
    lb_hup_flag++; /* a generation counter: jobs compare it with what they saw */
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
