/*
 * test_signals.c - the stop flag and the SIGHUP generation (bridge/signals.c).
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

#include <signal.h>
#include <stdatomic.h>

#include "signals.h"

static void signals_two_hups_in_a_row_are_both_seen(void **state)
{
    (void)state;
    lb_signals_install();
    unsigned seen = atomic_load(&lb_hup_flag);
    assert_int_equal(lb_signals_hup_changed(&lb_hup_flag, &seen), 0);

    /* Two before the consumer looks: one reopen covers both. */
    raise(SIGHUP);
    raise(SIGHUP);
    assert_int_equal(lb_signals_hup_changed(&lb_hup_flag, &seen), 1);
    assert_int_equal(lb_signals_hup_changed(&lb_hup_flag, &seen), 0);

    /* One right after the consumer looked (while it reopens): seen next time,
     * where a reader that reset the counter to 0 after acting would lose it. */
    raise(SIGHUP);
    assert_int_equal(lb_signals_hup_changed(&lb_hup_flag, &seen), 1);
    raise(SIGHUP);
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

static void signals_stop_flag_is_set_by_sigterm(void **state)
{
    (void)state;
    lb_signals_install();
    atomic_store(&lb_stop_flag, 0);
    raise(SIGTERM);
    assert_int_equal(atomic_load(&lb_stop_flag), 1);
    atomic_store(&lb_stop_flag, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signals_two_hups_in_a_row_are_both_seen),
        cmocka_unit_test(signals_each_consumer_sees_every_generation),
        cmocka_unit_test(signals_stop_flag_is_set_by_sigterm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
