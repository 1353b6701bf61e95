/*
 * Temporary server keys in the stateless backend: which principals may
 * have them, how they are wrapped at rest in store.mdb, and their
 * registration (the tempkey.so hand-over of lib/ks_tempkey.h).
 *
 * Eligible principals are principals of the realm with two or more
 * components that match a service rule (derived keys until a temporary
 * key is registered) or a tempkey_services glob (temporary keys only),
 * never krbtgt, devreg, kadmin, K or device principals.
 *
 * Wrapping: the store holds, per key id, blob = krb5_c_encrypt(store
 * key, KS_KEYUSAGE_TEMPKEY_STORE, plaintext) (the ciphertext only; the
 * store key's enctype is fixed, see ks_kdf.h), where plaintext is
 *
 *   u8  version (1)
 *   u16 principal length P, P bytes (unparsed, with realm)
 *   u16 key id
 *   s64 expiry
 *   u8  key count N (1-255)
 *   N times: i32 enctype, u16 key length L, L key bytes
 *
 * (big-endian).  Unwrapping checks principal, key id and expiry against
 * the store record, so a blob copied to another principal or key id, or
 * given another expiry, is refused as corrupt.
 */
#ifndef STATELESS_TEMPKEY_H
#define STATELESS_TEMPKEY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <krb5/krb5.h>
#include <kdb.h>

#include "ks_store.h"
#include "stateless_entries.h"

#define KS_TEMPKEY_WRAP_VERSION 1

/* Seconds between two purges of expired keys by one process's lookups. */
#define KS_TEMPKEY_PURGE_INTERVAL 10

/* How a principal relates to temporary keys. */
enum ks_tempkey_match {
    KS_TEMPKEY_NONE = 0,        /* never has temporary keys */
    KS_TEMPKEY_SERVICE,         /* service rule: derived until registered */
    KS_TEMPKEY_ONLY,            /* tempkey_services glob only */
};

/* How p (of kind, from ks_classify()) relates to temporary keys. */
enum ks_tempkey_match ks_tempkey_match(krb5_context ctx,
                                       const struct ks_module *mod,
                                       krb5_const_principal p,
                                       enum ks_kind kind);

/* Wrap the nkeys keys of principal's key id (expiring at expiry) in
 * store_key into *blob_out (*len_out bytes, malloc'ed). */
krb5_error_code ks_tempkey_wrap(krb5_context ctx,
                                const krb5_keyblock *store_key,
                                const char *principal, uint32_t key_id,
                                time_t expiry, const krb5_keyblock *keys,
                                size_t nkeys, unsigned char **blob_out,
                                size_t *len_out);

/* Unwrap rec of principal into *keys_out (*nkeys_out keys; free with
 * ks_tempkey_keyblocks_free).  KRB5_KDB_DB_CORRUPT, with a message naming
 * principal and key id, if the blob does not decrypt, does not parse or
 * is bound to another principal, key id or expiry. */
krb5_error_code ks_tempkey_unwrap(krb5_context ctx,
                                  const krb5_keyblock *store_key,
                                  const char *principal,
                                  const struct ks_tempkey_record *rec,
                                  krb5_keyblock **keys_out,
                                  size_t *nkeys_out);

/* Zero and free n keyblocks. */
void ks_tempkey_keyblocks_free(krb5_context ctx, krb5_keyblock *keys,
                               size_t n);

/* Nonzero if entry has the shape of the tempkey.so hand-over: exactly one
 * tl_data, of type KS_TL_TEMPKEY (the keys are checked later). */
int ks_tempkey_is_handover(const krb5_db_entry *entry);

/* Register the hand-over entry at now (see lib/ks_tempkey.h for the
 * results). */
krb5_error_code ks_tempkey_register(krb5_context ctx, struct ks_module *mod,
                                    const krb5_db_entry *entry, time_t now);

/* The module's store (opened on first use) and store key (derived on
 * first use). */
krb5_error_code ks_module_store(krb5_context ctx, struct ks_module *mod,
                                struct ks_store **out);
krb5_error_code ks_module_store_key(krb5_context ctx, struct ks_module *mod,
                                    const krb5_keyblock **out);

/* Purge expired keys of every principal, unless this process did so less
 * than KS_TEMPKEY_PURGE_INTERVAL seconds ago (lookups call it when they
 * see expired records).  Failures are ignored: the next put or purge
 * retries. */
void ks_tempkey_purge_lazily(krb5_context ctx, struct ks_module *mod,
                             time_t now);

#endif
