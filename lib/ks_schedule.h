/*
 * The key schedule: which kvnos of a derived principal exist at a time.
 *
 *   current(t) = 1 + floor((t - key_epoch) / key_period)   (1 before epoch)
 *   start(k)   = key_epoch + (k - 1) * key_period
 *
 * Key k is the issuing key during [start(k), start(k+1)).  An entry looked
 * up at t carries kvnos current - previous .. current + 1, where
 * previous = ceil((max_life + clockskew) / key_period): a ticket issued in
 * key k ends before start(k+1) + max_life, and at any time before that
 * current <= k + previous, so its key is still served.  With ticket lives
 * capped at key_period / 2 this is one previous key, served for a whole
 * period after it stops issuing (Heimdal's virtual-principal rule); for
 * devreg/REALM it is as many as registration_max_life needs.
 */
#ifndef KS_SCHEDULE_H
#define KS_SCHEDULE_H

#include <stdint.h>
#include <krb5/krb5.h>

#define KS_KVNO_MAX 65535
#define KS_OVERFLOW_HORIZON ((int64_t)10 * 366 * 86400)

struct ks_schedule {
    int64_t epoch;              /* unix time at which kvno 1 starts */
    int64_t period;             /* seconds, > 0 */
};

/* The kvno current at time t (1 if t is before the epoch). */
int64_t ks_schedule_current(const struct ks_schedule *s, int64_t t);

/* The time at which kvno k becomes current. */
int64_t ks_schedule_start(const struct ks_schedule *s, int64_t kvno);

/* How many kvnos before the current one must still be served for tickets
 * living at most max_life, allowing clockskew. */
int64_t ks_schedule_previous(const struct ks_schedule *s, int64_t max_life,
                             int64_t clockskew);

/* The range of kvnos served at time t for tickets living at most max_life:
 * [*first, *last] with *first >= 1 and *last = current + 1. */
void ks_schedule_range(const struct ks_schedule *s, int64_t t,
                       int64_t max_life, int64_t clockskew, int64_t *first,
                       int64_t *last);

/* 0 if no kvno served before now + horizon exceeds KS_KVNO_MAX; otherwise
 * KSTL_KVNO_OVERFLOW with *limit set to the first time at which the next
 * kvno would exceed it. */
krb5_error_code ks_schedule_check_overflow(const struct ks_schedule *s,
                                           int64_t now, int64_t horizon,
                                           int64_t *limit);

#endif
