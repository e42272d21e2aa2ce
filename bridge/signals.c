/*
 * signals.c - the signal thread: the one place SIGINT, SIGTERM and SIGHUP
 * are received (see signals.h for the model).
 */
#include "signals.h"

#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

atomic_int lb_stop_flag;
atomic_uint lb_hup_flag;

static atomic_int lb_stop_fd = -1;
static sigset_t lb_sig_set; /* written once, before the thread starts */

void lb_signals_stop(void)
{
    /* The flag first: a loop woken by the eventfd may look at the flag. */
    atomic_store(&lb_stop_flag, 1);
    int fd = atomic_load(&lb_stop_fd);
    if (fd >= 0) {
        uint64_t one = 1;
        ssize_t w = write(fd, &one, sizeof(one));
        (void)w; /* an eventfd write of 1 cannot fail short of overflow */
    }
}

int lb_signals_stop_fd(void)
{
    return atomic_load(&lb_stop_fd);
}

int lb_signals_hup_changed(atomic_uint *hup, unsigned *seen)
{
    unsigned now = atomic_load(hup);
    if (now == *seen)
        return 0;
    *seen = now;
    return 1;
}

static void *lb_signals_thread(void *arg)
{
    (void)arg;
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&lb_sig_set, &si);
        if (sig < 0)
            continue; /* EINTR: another signal (none is handled here) */
        if (sig == SIGHUP) {
            /* The log first: a job that sees the new generation and logs
             * about its own reopen writes to the new log. */
            if (lb_log_reopen() != 0)
                lb_warn("SIGHUP: cannot reopen the log file: %s", strerror(errno));
            atomic_fetch_add(&lb_hup_flag, 1u); /* a generation: compared, never reset */
            lb_info("SIGHUP: reopened the log; jobs reopen their files");
        } else {
            if (!atomic_load(&lb_stop_flag))
                lb_info("%s: stopping (what was read is committed first)",
                        sig == SIGINT ? "SIGINT" : "SIGTERM");
            lb_signals_stop();
        }
    }
    return NULL;
}

int lb_signals_start(struct lb_error *err)
{
    if (atomic_load(&lb_stop_fd) >= 0)
        return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return lb_error_set(err, LB_EIO, "eventfd: %s", strerror(errno));
    sigemptyset(&lb_sig_set);
    sigaddset(&lb_sig_set, SIGINT);
    sigaddset(&lb_sig_set, SIGTERM);
    sigaddset(&lb_sig_set, SIGHUP);
    sigset_t old;
    pthread_sigmask(SIG_BLOCK, &lb_sig_set, &old);
    atomic_store(&lb_stop_fd, fd);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* The thread lives as long as the process: exit() ends it. */
    int e = pthread_create(&t, &attr, lb_signals_thread, NULL);
    pthread_attr_destroy(&attr);
    if (e != 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        atomic_store(&lb_stop_fd, -1);
        close(fd);
        return lb_error_set(err, LB_EIO, "cannot start the signal thread: %s", strerror(e));
    }
    return 0;
}
