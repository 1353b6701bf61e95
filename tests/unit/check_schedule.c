/*
 * Unit tests of the key schedule (lib/ks_schedule.h): the current kvno at
 * and around period boundaries, start() as its inverse, how many previous
 * kvnos tickets need, the served range, and the 16-bit kvno limit.
 */
#include "config.h"

#include <stdint.h>
#include <check.h>

#include "ks_schedule.h"
#include "ks_err.h"
#include "unit_util.h"

#define DAY 86400
#define WEEK (7 * DAY)
#define EPOCH 1767225600        /* the default key_epoch */
#define SKEW 300                /* krb5's default clockskew */

static const struct ks_schedule weekly = { EPOCH, WEEK };

START_TEST(test_current_before_epoch)
{
    ck_assert_int_eq(ks_schedule_current(&weekly, 0), 1);
    ck_assert_int_eq(ks_schedule_current(&weekly, EPOCH - WEEK - 1), 1);
    ck_assert_int_eq(ks_schedule_current(&weekly, EPOCH - 1), 1);
    ck_assert_int_eq(ks_schedule_current(&weekly, INT64_MIN / 2), 1);
}
END_TEST

START_TEST(test_current_at_boundaries)
{
    ck_assert_int_eq(ks_schedule_current(&weekly, EPOCH), 1);
    ck_assert_int_eq(ks_schedule_current(&weekly, EPOCH + 1), 1);
    ck_assert_int_eq(ks_schedule_current(&weekly, EPOCH + WEEK - 1), 1);
    ck_assert_int_eq(ks_schedule_current(&weekly, EPOCH + WEEK), 2);
    ck_assert_int_eq(ks_schedule_current(&weekly, EPOCH + 2 * WEEK - 1), 2);
    ck_assert_int_eq(ks_schedule_current(&weekly, EPOCH + 2 * WEEK), 3);
    /* 46 full weeks after the epoch, as in the KDC log example. */
    ck_assert_int_eq(ks_schedule_current(&weekly, EPOCH + 46 * WEEK + 5), 47);
}
END_TEST

START_TEST(test_current_large_t)
{
    const struct ks_schedule s = { 0, 1 };

    /* Far in the future the arithmetic stays exact (no 32-bit overflow). */
    ck_assert_int_eq(ks_schedule_current(&weekly, EPOCH + (int64_t)1000000 *
                                         WEEK + 3), 1000001);
    ck_assert_int_eq(ks_schedule_current(&weekly, (int64_t)1 << 40),
                     1 + (((int64_t)1 << 40) - EPOCH) / WEEK);
    ck_assert_int_eq(ks_schedule_current(&s, (int64_t)1 << 62),
                     ((int64_t)1 << 62) + 1);
    ck_assert_int_eq(ks_schedule_current(&weekly, INT64_MAX),
                     1 + (INT64_MAX - EPOCH) / WEEK);
}
END_TEST

START_TEST(test_current_odd_period)
{
    const struct ks_schedule s = { 1000, 7 };

    ck_assert_int_eq(ks_schedule_current(&s, 999), 1);
    ck_assert_int_eq(ks_schedule_current(&s, 1000), 1);
    ck_assert_int_eq(ks_schedule_current(&s, 1006), 1);
    ck_assert_int_eq(ks_schedule_current(&s, 1007), 2);
    ck_assert_int_eq(ks_schedule_current(&s, 1013), 2);
    ck_assert_int_eq(ks_schedule_current(&s, 1014), 3);
}
END_TEST

START_TEST(test_start_is_inverse)
{
    int64_t k, t;

    ck_assert_int_eq(ks_schedule_start(&weekly, 1), EPOCH);
    ck_assert_int_eq(ks_schedule_start(&weekly, 2), EPOCH + WEEK);
    ck_assert_int_eq(ks_schedule_start(&weekly, 65535),
                     EPOCH + (int64_t)65534 * WEEK);
    for (k = 1; k < 70000; k += 997) {
        t = ks_schedule_start(&weekly, k);
        ck_assert_int_eq(ks_schedule_current(&weekly, t), k);
        ck_assert_int_eq(ks_schedule_current(&weekly, t - 1),
                         k == 1 ? 1 : k - 1);
        ck_assert_int_eq(ks_schedule_current(&weekly, t + WEEK - 1), k);
    }
}
END_TEST

START_TEST(test_previous)
{
    /* Ticket life capped at period/2 (krbtgt, services): one previous. */
    ck_assert_int_eq(ks_schedule_previous(&weekly, WEEK / 2, SKEW), 1);
    ck_assert_int_eq(ks_schedule_previous(&weekly, WEEK / 2, 0), 1);
    /* devreg: 30-day registration tickets with 7-day periods: five. */
    ck_assert_int_eq(ks_schedule_previous(&weekly, 30 * DAY, SKEW), 5);
    ck_assert_int_eq(ks_schedule_previous(&weekly, 30 * DAY, 0), 5);
    /* Exact multiples need no extra kvno; one second more does. */
    ck_assert_int_eq(ks_schedule_previous(&weekly, WEEK, 0), 1);
    ck_assert_int_eq(ks_schedule_previous(&weekly, WEEK - SKEW, SKEW), 1);
    ck_assert_int_eq(ks_schedule_previous(&weekly, WEEK, 1), 2);
    ck_assert_int_eq(ks_schedule_previous(&weekly, 2 * WEEK, 0), 2);
    ck_assert_int_eq(ks_schedule_previous(&weekly, 2 * WEEK + 1, 0), 3);
    ck_assert_int_eq(ks_schedule_previous(&weekly, 4 * WEEK, 0), 4);
    ck_assert_int_eq(ks_schedule_previous(&weekly, 4 * WEEK, SKEW), 5);
    /* Degenerate spans still keep one previous kvno. */
    ck_assert_int_eq(ks_schedule_previous(&weekly, 0, 0), 1);
    ck_assert_int_eq(ks_schedule_previous(&weekly, 1, 0), 1);
}
END_TEST

START_TEST(test_range)
{
    int64_t first, last;
    int64_t t47 = ks_schedule_start(&weekly, 47) + 10;

    /* Before the epoch: kvno 1 is current, nothing before it. */
    ks_schedule_range(&weekly, EPOCH - 1, WEEK / 2, SKEW, &first, &last);
    ck_assert_int_eq(first, 1);
    ck_assert_int_eq(last, 2);
    /* kvno 1 current: first clamped to 1, not 0. */
    ks_schedule_range(&weekly, EPOCH + 5, WEEK / 2, SKEW, &first, &last);
    ck_assert_int_eq(first, 1);
    ck_assert_int_eq(last, 2);
    /* devreg at kvno 3 needs 5 previous: clamped to 1. */
    ks_schedule_range(&weekly, ks_schedule_start(&weekly, 3), 30 * DAY, SKEW,
                      &first, &last);
    ck_assert_int_eq(first, 1);
    ck_assert_int_eq(last, 4);
    /* Steady state. */
    ks_schedule_range(&weekly, t47, WEEK / 2, SKEW, &first, &last);
    ck_assert_int_eq(first, 46);
    ck_assert_int_eq(last, 48);
    ks_schedule_range(&weekly, t47, 30 * DAY, SKEW, &first, &last);
    ck_assert_int_eq(first, 42);
    ck_assert_int_eq(last, 48);
}
END_TEST

START_TEST(test_range_covers_every_live_ticket)
{
    /* A ticket issued at time i (in kvno current(i)) and living max_life is
     * still decryptable at every t up to i + max_life + skew. */
    const struct ks_schedule s = { 1000, 100 };
    int64_t max_lifes[] = { 50, 100, 250, 3000 };
    int64_t i, t, k, first, last;
    size_t m;

    for (m = 0; m < sizeof(max_lifes) / sizeof(*max_lifes); m++) {
        for (i = 900; i < 1500; i += 7) {
            k = ks_schedule_current(&s, i);
            for (t = i; t <= i + max_lifes[m] + 10; t += 3) {
                ks_schedule_range(&s, t, max_lifes[m], 10, &first, &last);
                ck_assert_int_le(first, k);
                ck_assert_int_ge(last, k);
            }
        }
    }
}
END_TEST

START_TEST(test_overflow_default_config)
{
    int64_t limit = 0;

    /* 7-day periods reach kvno 65535 in the 33rd century. */
    ck_assert_int_eq(ks_schedule_check_overflow(&weekly, EPOCH,
                                                KS_OVERFLOW_HORIZON, &limit),
                     0);
    ck_assert_int_eq(limit, EPOCH + (int64_t)65534 * WEEK);
    ck_assert_int_eq(ks_schedule_check_overflow(&weekly, EPOCH +
                                                (int64_t)1000 * 365 * DAY,
                                                KS_OVERFLOW_HORIZON, &limit),
                     0);
}
END_TEST

START_TEST(test_overflow_at_the_limit)
{
    const int64_t now = EPOCH, period = 3600;
    struct ks_schedule s;
    int64_t limit = 0;

    /* kvno 65535 becomes current exactly at now + horizon: refused. */
    s.period = period;
    s.epoch = now + KS_OVERFLOW_HORIZON - 65534 * period;
    ck_assert_int_eq(ks_schedule_start(&s, 65535), now + KS_OVERFLOW_HORIZON);
    ck_assert_int_eq(ks_schedule_check_overflow(&s, now, KS_OVERFLOW_HORIZON,
                                                &limit), KSTL_KVNO_OVERFLOW);
    ck_assert_int_eq(limit, now + KS_OVERFLOW_HORIZON);
    /* One second earlier: refused. */
    s.epoch--;
    ck_assert_int_eq(ks_schedule_check_overflow(&s, now, KS_OVERFLOW_HORIZON,
                                                &limit), KSTL_KVNO_OVERFLOW);
    ck_assert_int_eq(limit, now + KS_OVERFLOW_HORIZON - 1);
    /* One second after the horizon: accepted. */
    s.epoch += 2;
    ck_assert_int_eq(ks_schedule_check_overflow(&s, now, KS_OVERFLOW_HORIZON,
                                                &limit), 0);
    ck_assert_int_eq(limit, now + KS_OVERFLOW_HORIZON + 1);
}
END_TEST

START_TEST(test_overflow_short_period)
{
    const struct ks_schedule hourly = { EPOCH, 3600 };
    int64_t limit = 0;

    /* The start-up example: 1-hour periods reach kvno 65535 in 2033. */
    ck_assert_int_eq(ks_schedule_check_overflow(&hourly, EPOCH,
                                                KS_OVERFLOW_HORIZON, &limit),
                     KSTL_KVNO_OVERFLOW);
    ck_assert_int_eq(limit, EPOCH + (int64_t)65534 * 3600);
    /* Already past the limit. */
    ck_assert_int_eq(ks_schedule_check_overflow(&hourly, limit + 1, 0,
                                                &limit), KSTL_KVNO_OVERFLOW);
}
END_TEST

START_TEST(test_overflow_horizon_is_ten_years)
{
    ck_assert_int_ge(KS_OVERFLOW_HORIZON, (int64_t)10 * 365 * DAY);
    ck_assert_int_le(KS_OVERFLOW_HORIZON, (int64_t)10 * 366 * DAY);
    ck_assert_int_eq(KS_KVNO_MAX, 65535);
}
END_TEST

/* Every schedule test, grouped by concern. */
static Suite *
schedule_suite(void)
{
    Suite *s = suite_create("schedule");
    TCase *tc;

    tc = tcase_create("current");
    tcase_add_test(tc, test_current_before_epoch);
    tcase_add_test(tc, test_current_at_boundaries);
    tcase_add_test(tc, test_current_large_t);
    tcase_add_test(tc, test_current_odd_period);
    tcase_add_test(tc, test_start_is_inverse);
    suite_add_tcase(s, tc);

    tc = tcase_create("previous");
    tcase_add_test(tc, test_previous);
    tcase_add_test(tc, test_range);
    tcase_add_test(tc, test_range_covers_every_live_ticket);
    suite_add_tcase(s, tc);

    tc = tcase_create("overflow");
    tcase_add_test(tc, test_overflow_default_config);
    tcase_add_test(tc, test_overflow_at_the_limit);
    tcase_add_test(tc, test_overflow_short_period);
    tcase_add_test(tc, test_overflow_horizon_is_ten_years);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return unit_run(schedule_suite());
}
