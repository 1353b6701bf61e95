/*
 * The server's keytab of temporary keys, shared by tempkey.so's client
 * side and ktempkey.  Keytab names: "FILE:/path", "WRFILE:/path" or a
 * plain path.  Every change rewrites the whole keytab into a temporary
 * file next to it (mode 0600), fsyncs it and renames it over the old one,
 * so a reader (a service validating tickets, kvno -k) sees the old or the
 * new keytab, never a partial one.  Writers of one keytab serialize on an
 * flock(2) of "PATH.lock".  Errors set a message naming the keytab.
 */
#ifndef TEMPKEY_KEYTAB_H
#define TEMPKEY_KEYTAB_H

#include <stddef.h>
#include <stdint.h>
#include <krb5/krb5.h>

/* The next key id for princ: one more than the highest kvno of princ's
 * entries (any enctype), 1 when there are none or the keytab does not
 * exist.  Returns EOVERFLOW (message: key ids
 * exhausted) when that would exceed 65535. */
krb5_error_code tk_keytab_next_id(krb5_context ctx, const char *ktname,
                                  krb5_const_principal princ,
                                  uint32_t *next_out);

/* The keys of princ with kvno key_id into *keys_out (free with
 * tk_keys_free, which zeroes them) and *count_out; KRB5_KT_NOTFOUND when
 * there are none. */
krb5_error_code tk_keytab_get_keys(krb5_context ctx, const char *ktname,
                                   krb5_const_principal princ,
                                   uint32_t key_id, krb5_keyblock **keys_out,
                                   size_t *count_out);

void tk_keys_free(krb5_keyblock *keys, size_t count);

/* The distinct kvnos of princ's entries, ascending, into *ids_out
 * (free()) and *count_out (0 when none or no keytab). */
krb5_error_code tk_keytab_ids(krb5_context ctx, const char *ktname,
                              krb5_const_principal princ, uint32_t **ids_out,
                              size_t *count_out);

/*
 * Atomically rewrite the keytab: keep every entry except princ's entries
 * whose kvno is one of drop_ids (ndrop may be 0), and add nadd keys (may
 * be 0) for princ with kvno add_id (timestamp now).  Creates the keytab
 * if missing.  Refuses (EEXIST) to add key id add_id when princ already
 * has entries with that kvno that are not dropped: two writers that chose
 * the same next id must not both believe their key is the one in the
 * keytab.
 */
krb5_error_code tk_keytab_update(krb5_context ctx, const char *ktname,
                                 krb5_const_principal princ,
                                 const krb5_keyblock *add, size_t nadd,
                                 uint32_t add_id, const uint32_t *drop_ids,
                                 size_t ndrop);

/*
 * Helpers shared with tempkey_state.c and ktempkey.
 */

/* The file of keytab ktname ("FILE:/p", "WRFILE:/p" or "/p") into
 * *path_out (free()); EINVAL (message) for other keytab types, which
 * cannot be replaced by rename(2). */
krb5_error_code tk_keytab_path(krb5_context ctx, const char *ktname,
                               char **path_out);

/* Take the exclusive flock(2) of "path.lock" (created mode 0600) into
 * *fd_out; tk_unlock(fd) releases it. */
krb5_error_code tk_lock(krb5_context ctx, const char *path, int *fd_out);
void tk_unlock(int fd);

#endif
