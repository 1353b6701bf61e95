/*
 * What the server knows about its registered temporary keys, kept next to
 * the keytab in "PATH.tempkey" (PATH: the keytab's file) because a keytab
 * has no place for it.  One line per key:
 *
 *   PRINCIPAL KEY_ID REGISTERED EXPIRY RENEW_BY
 *
 * (unparsed principal, decimal numbers, POSIX times), written atomically
 * like the keytab (temporary file, fsync, rename; mode 0600).  tempkey.so
 * records a key when a KDC accepted it (RENEW_BY: the earliest renew-by
 * time any KDC asked for); ktempkey reads it to decide when to register
 * the next key and when an old key may leave the keytab, and removes the
 * lines of keys it prunes.  Lines that do not parse are an error naming
 * the file and line.
 */
#ifndef TEMPKEY_STATE_H
#define TEMPKEY_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <krb5/krb5.h>

struct tk_state_entry {
    char *principal;
    uint32_t key_id;
    time_t registered;
    time_t expiry;
    time_t renew_by;
};

/* All entries of the state file of keytab ktname (none when the file does
 * not exist); free with tk_state_free. */
krb5_error_code tk_state_load(krb5_context ctx, const char *ktname,
                              struct tk_state_entry **out, size_t *count_out);

void tk_state_free(struct tk_state_entry *entries, size_t count);

/* Record e: merge it into the entry of the same principal and key id
 * (keeping the earlier registered and renew_by, 0 meaning none asked for,
 * and the later expiry of the two: the key is registered since its first
 * acceptance and must stay in the keytab until its last expiry), or add
 * it.  The principal must not contain white space or control characters
 * (EINVAL).  Writers serialize on an flock(2) of "PATH.tempkey.lock". */
krb5_error_code tk_state_record(krb5_context ctx, const char *ktname,
                                const struct tk_state_entry *e);

/* Remove the entries of principal whose key id is one of ids. */
krb5_error_code tk_state_remove(krb5_context ctx, const char *ktname,
                                const char *principal, const uint32_t *ids,
                                size_t nids);

#endif
