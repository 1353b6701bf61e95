/*
 * Key derivation from the realm secret.
 *
 * Every key the stateless backend serves is
 *
 *   K = random-to-key(enctype,
 *                     HKDF-SHA256(IKM  = realm secret,
 *                                 salt = "krb5-stateless realm secret v1",
 *                                 info = INFO, L = keybytes(enctype)))
 *
 *   INFO = "krb5-stateless key v1" 0x00
 *          || u8 len(purpose) || purpose
 *          || u16be len(name) || name
 *          || i32be enctype || u32be kvno
 *
 * HKDF is RFC 5869 through OpenSSL's EVP_KDF; random-to-key is the RFC 3961
 * operation through krb5_c_random_to_key().  The purpose separates uses of
 * the secret (KS_PURPOSE_*), name is the unparsed principal with its realm.
 * The check value is the hex of 8 bytes derived with purpose "check-value",
 * an empty name and enctype and kvno 0.
 *
 * The store key, which wraps temporary server keys at rest in store.mdb
 * (key usage KS_KEYUSAGE_TEMPKEY_STORE), is derived with purpose
 * "tempkey-store", name = the realm name alone (no principal: the key
 * belongs to the realm's store, not to a principal, and a realm name
 * cannot collide with a principal-key name, which always has an '@'),
 * enctype aes256-cts-hmac-sha384-192 (20) and kvno 0.  It does not
 * rotate: a stored temporary key lives at most as long as the KDC's
 * tempkey_max_life, and every KDC sharing the secret unwraps the same
 * store.
 */
#ifndef KS_KDF_H
#define KS_KDF_H

#include <stddef.h>
#include <krb5/krb5.h>

#define KS_KDF_SALT "krb5-stateless realm secret v1"
#define KS_KDF_INFO_LABEL "krb5-stateless key v1"

/* Purposes (domain separation labels). */
#define KS_PURPOSE_PRINCIPAL "principal-key"
#define KS_PURPOSE_CHECK_VALUE "check-value"
#define KS_PURPOSE_TEMPKEY_STORE "tempkey-store"

/* The enctype and kvno of the store key. */
#define KS_TEMPKEY_STORE_ENCTYPE ENCTYPE_AES256_CTS_HMAC_SHA384_192
#define KS_TEMPKEY_STORE_KVNO 0

#define KS_CHECK_VALUE_BYTES 8
#define KS_CHECK_VALUE_LEN (2 * KS_CHECK_VALUE_BYTES)

/* HKDF-SHA256 (RFC 5869) of ikm, salt and info into outlen bytes of out. */
krb5_error_code ks_hkdf_sha256(const unsigned char *ikm, size_t ikmlen,
                               const unsigned char *salt, size_t saltlen,
                               const unsigned char *info, size_t infolen,
                               unsigned char *out, size_t outlen);

/* Encode INFO for (purpose, name, enctype, kvno) into buf (bufsize bytes);
 * set *len_out.  Returns EINVAL if a field is too long or buf too small. */
krb5_error_code ks_kdf_info(const char *purpose, const char *name,
                            krb5_enctype enctype, krb5_kvno kvno,
                            unsigned char *buf, size_t bufsize,
                            size_t *len_out);

/* Derive outlen raw bytes for (purpose, name, enctype, kvno). */
krb5_error_code ks_kdf_bytes(const unsigned char *secret, size_t secretlen,
                             const char *purpose, const char *name,
                             krb5_enctype enctype, krb5_kvno kvno,
                             unsigned char *out, size_t outlen);

/* Derive the key of principal name (unparsed, with realm) for enctype and
 * kvno into *out (contents allocated; free with
 * krb5_free_keyblock_contents, which zeroes them). */
krb5_error_code ks_derive_principal_key(krb5_context ctx,
                                        const unsigned char *secret,
                                        size_t secretlen, const char *name,
                                        krb5_enctype enctype, krb5_kvno kvno,
                                        krb5_keyblock *out);

/* Derive the store key of realm (see above) into *out (contents
 * allocated; free with krb5_free_keyblock_contents). */
krb5_error_code ks_derive_tempkey_store_key(krb5_context ctx,
                                            const unsigned char *secret,
                                            size_t secretlen,
                                            const char *realm,
                                            krb5_keyblock *out);

/* The non-secret fingerprint of the secret: KS_CHECK_VALUE_LEN hex digits
 * and a NUL into out. */
krb5_error_code ks_check_value(const unsigned char *secret, size_t secretlen,
                               char out[KS_CHECK_VALUE_LEN + 1]);

#endif
