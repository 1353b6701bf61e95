/* Key schedule arithmetic; the rule is in ks_schedule.h. */
#include "config.h"

#include "ks_schedule.h"
#include "ks_err.h"

/* floor(a / b) for b > 0. */
static int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && a < 0) ? q - 1 : q;
}

int64_t
ks_schedule_current(const struct ks_schedule *s, int64_t t)
{
    if (t < s->epoch)
        return 1;
    return 1 + floor_div(t - s->epoch, s->period);
}

int64_t
ks_schedule_start(const struct ks_schedule *s, int64_t kvno)
{
    return s->epoch + (kvno - 1) * s->period;
}

int64_t
ks_schedule_previous(const struct ks_schedule *s, int64_t max_life,
                     int64_t clockskew)
{
    int64_t span = max_life + clockskew;

    if (span <= 0)
        return 1;
    return (span + s->period - 1) / s->period;
}

void
ks_schedule_range(const struct ks_schedule *s, int64_t t, int64_t max_life,
                  int64_t clockskew, int64_t *first, int64_t *last)
{
    int64_t cur = ks_schedule_current(s, t);
    int64_t prev = ks_schedule_previous(s, max_life, clockskew);

    *first = (cur - prev < 1) ? 1 : cur - prev;
    *last = cur + 1;
}

krb5_error_code
ks_schedule_check_overflow(const struct ks_schedule *s, int64_t now,
                           int64_t horizon, int64_t *limit)
{
    /* The next kvno (current + 1) is served from the start of current, so
     * KS_KVNO_MAX + 1 would appear when KS_KVNO_MAX becomes current. */
    int64_t when = ks_schedule_start(s, KS_KVNO_MAX);

    *limit = when;
    return (when <= now + horizon) ? KSTL_KVNO_OVERFLOW : 0;
}
