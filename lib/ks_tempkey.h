/*
 * How tempkey.so hands a registered key to the stateless backend, inside
 * krb5kdc: krb5_db_put_principal() of an entry that carries
 *
 *   princ       the server principal
 *   key_data    one element per enctype, all with key_data_kvno = key id,
 *               in the backend's plaintext form (key_data_ver 1,
 *               key_data_type[0] = enctype, key_data_contents[0] = the key
 *               bytes; see ks_tempkey_key_data())
 *   tl_data     exactly one element of type KS_TL_TEMPKEY holding the
 *               8-byte big-endian expiry (POSIX time); no other tl_data
 *
 * The backend (stateless_kdb.c ks_put_principal) accepts nothing else: any
 * other put stays refused as read-only.  It keeps the keys whose enctype
 * is among the realm's enctypes (at least one, else EINVAL), wraps them in
 * its store key and records them with ks_store_tempkey_put().  Results:
 *   0                the key is stored (or this very key id with the same
 *                    keys was already stored: a registration repeated at a
 *                    KDC sharing the store)
 *   KRB5_KDB_INUSE   key id rollback (not above the highest stored)
 *   EINVAL           bad key id, expiry, enctypes or key lengths
 *   other            store failures (message set)
 *
 * The tl_data type is a private value: MIT's own types are below 0x0800
 * and KRB5_TL_DB_ARGS is 0x7fff.
 */
#ifndef KS_TEMPKEY_H
#define KS_TEMPKEY_H

#include <stdint.h>
#include <string.h>
#include <time.h>
#include <krb5/krb5.h>
#include <kdb.h>

#define KS_TL_TEMPKEY 0x5401
#define KS_TL_TEMPKEY_LEN 8

static inline void
ks_tempkey_tl_encode(time_t expiry, unsigned char out[KS_TL_TEMPKEY_LEN])
{
    uint64_t v = (uint64_t)(int64_t)expiry;
    int i;

    for (i = KS_TL_TEMPKEY_LEN - 1; i >= 0; i--, v >>= 8)
        out[i] = (unsigned char)(v & 0xff);
}

static inline time_t
ks_tempkey_tl_decode(const unsigned char in[KS_TL_TEMPKEY_LEN])
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < KS_TL_TEMPKEY_LEN; i++)
        v = (v << 8) | in[i];
    return (time_t)(int64_t)v;
}

/* Fill *kd (plaintext form, contents pointing at key->contents: not
 * copied) for key with kvno key_id. */
static inline void
ks_tempkey_key_data(const krb5_keyblock *key, uint32_t key_id,
                    krb5_key_data *kd)
{
    memset(kd, 0, sizeof(*kd));
    kd->key_data_ver = 1;
    kd->key_data_kvno = (krb5_ui_2)key_id;
    kd->key_data_type[0] = (krb5_int16)key->enctype;
    kd->key_data_length[0] = (krb5_ui_2)key->length;
    kd->key_data_contents[0] = key->contents;
}

#endif
