/*
 * test_signals.c - the signal thread, the stop flag and eventfd, and the
 * SIGHUP generation (bridge/signals.c).
 *
 * The SIGHUP counter is never reset: each consumer compares it with the
 * generation it last acted on. Two SIGHUPs in quick succession, or one that
 * arrives while a consumer is reopening, must never be lost (issue 9 item 7).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "signals.h"

/* Signals are process-directed (kill, not raise: raise would target this
 * thread, which blocks them) and handled by another thread: wait for the
 * effect with a deadline. */
static void start(void)
{
    struct lb_error err = {0};
    assert_int_equal(lb_signals_start(&err), 0);
}

static int wait_hup(unsigned want)
{
    for (int i = 0; i < 5000; i++) {
        if (atomic_load(&lb_hup_flag) == want)
            return 1;
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void signals_two_hups_in_a_row_are_both_seen(void **state)
{
    (void)state;
    start();
    unsigned seen = atomic_load(&lb_hup_flag);
    assert_int_equal(lb_signals_hup_changed(&lb_hup_flag, &seen), 0);

    /* Two before the consumer looks: one reopen covers both. */
    kill(getpid(), SIGHUP);
    assert_true(wait_hup(seen + 1));
    kill(getpid(), SIGHUP);
    assert_true(wait_hup(seen + 2));
    assert_int_equal(lb_signals_hup_changed(&lb_hup_flag, &seen), 1);
    assert_int_equal(lb_signals_hup_changed(&lb_hup_flag, &seen), 0);

    /* One right after the consumer looked (while it reopens): seen next time,
     * where a reader that reset the counter to 0 after acting would lose it. */
    kill(getpid(), SIGHUP);
    assert_true(wait_hup(seen + 1));
    assert_int_equal(lb_signals_hup_changed(&lb_hup_flag, &seen), 1);
    kill(getpid(), SIGHUP);
    assert_true(wait_hup(seen + 1));
    assert_int_equal(lb_signals_hup_changed(&lb_hup_flag, &seen), 1);
    assert_int_equal(lb_signals_hup_changed(&lb_hup_flag, &seen), 0);
}

/* Consumers keep their own generation: one consumer acting does not hide the
 * SIGHUP from another (the jobs of `run` share one counter). */
static void signals_each_consumer_sees_every_generation(void **state)
{
    (void)state;
    atomic_uint hup = 0;
    unsigned a = 0, b = 0;
    atomic_fetch_add(&hup, 1u);
    assert_int_equal(lb_signals_hup_changed(&hup, &a), 1);
    atomic_fetch_add(&hup, 1u);
    assert_int_equal(lb_signals_hup_changed(&hup, &b), 1);
    assert_int_equal(lb_signals_hup_changed(&hup, &a), 1);
    assert_int_equal(lb_signals_hup_changed(&hup, &a), 0);
    assert_int_equal(lb_signals_hup_changed(&hup, &b), 0);
    assert_int_equal(atomic_load(&hup), 2); /* nobody reset it */

    /* wrap-around: only equality matters */
    atomic_store(&hup, 0xffffffffu);
    a = 0xffffffffu;
    atomic_fetch_add(&hup, 1u);
    assert_int_equal(lb_signals_hup_changed(&hup, &a), 1);
    assert_int_equal(a, 0);
}

/* SIGTERM sets the flag and makes the stop eventfd readable, and it stays
 * readable (never read): every loop of every thread sees it. Last test: the
 * stop cannot be undone. */
static void signals_sigterm_sets_the_flag_and_the_stop_eventfd(void **state)
{
    (void)state;
    start();
    struct lb_job_env env;
    lb_job_env_init(&env, NULL);
    assert_true(env.stop_fd >= 0);
    assert_int_equal(lb_job_stopping(&env), 0);
    kill(getpid(), SIGTERM);
    struct pollfd p = {env.stop_fd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 5000), 1);
    assert_int_equal(atomic_load(&lb_stop_flag), 1); /* set before the eventfd */
    assert_int_equal(poll(&p, 1, 0), 1);
    assert_int_equal(lb_job_stopping(&env), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signals_two_hups_in_a_row_are_both_seen),
        cmocka_unit_test(signals_each_consumer_sees_every_generation),
        cmocka_unit_test(signals_sigterm_sets_the_flag_and_the_stop_eventfd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
