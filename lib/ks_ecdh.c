/*
 * Ephemeral X25519 / P-256 key agreement through OpenSSL; see ks_ecdh.h.
 *
 * A struct ks_ecdh_key holds the group id and an EVP_PKEY with the
 * private key.  P-256 keys are built and read through the OpenSSL 3
 * provider parameters (group "P-256", public key as an octet string
 * forced to uncompressed form), X25519 keys through the raw-key API.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

#include "ks_ecdh.h"
#include "ks_util.h"

#define POINT_FORMAT OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT

struct ks_ecdh_key {
    int32_t group;
    EVP_PKEY *pkey;
};

/* Set a message naming what went wrong in OpenSSL and return
 * KRB5_CRYPTO_INTERNAL. */
static krb5_error_code
openssl_error(krb5_context ctx, const char *what)
{
    krb5_set_error_message(ctx, KRB5_CRYPTO_INTERNAL,
                           "ecdh: OpenSSL failed to %s", what);
    return KRB5_CRYPTO_INTERNAL;
}

/* Set an "unknown group" message and return EINVAL. */
static krb5_error_code
unknown_group(krb5_context ctx, int32_t group)
{
    krb5_set_error_message(ctx, EINVAL, "ecdh: unknown key agreement group "
                           "%ld", (long)group);
    return EINVAL;
}

size_t
ks_ecdh_public_len(int32_t group)
{
    switch (group) {
    case KS_DEVREG_GROUP_X25519:
        return KS_DEVREG_X25519_PUBLIC_LEN;
    case KS_DEVREG_GROUP_P256:
        return KS_DEVREG_P256_PUBLIC_LEN;
    default:
        return 0;
    }
}

/* Wrap pkey (taken over) into a new key of group. */
static krb5_error_code
wrap_key(int32_t group, EVP_PKEY *pkey, struct ks_ecdh_key **key_out)
{
    struct ks_ecdh_key *key;

    key = calloc(1, sizeof(*key));
    if (key == NULL) {
        EVP_PKEY_free(pkey);
        return ENOMEM;
    }
    key->group = group;
    key->pkey = pkey;
    *key_out = key;
    return 0;
}

krb5_error_code
ks_ecdh_generate(krb5_context ctx, int32_t group,
                 struct ks_ecdh_key **key_out)
{
    EVP_PKEY *pkey = NULL;

    *key_out = NULL;
    switch (group) {
    case KS_DEVREG_GROUP_X25519:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
        break;
    case KS_DEVREG_GROUP_P256:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    default:
        return unknown_group(ctx, group);
    }
    if (pkey == NULL)
        return openssl_error(ctx, "generate a key pair");
    return wrap_key(group, pkey, key_out);
}

/* A P-256 EVP_PKEY from an optional private scalar and a public point
 * (uncompressed octets); NULL on failure (including a point not on the
 * curve). */
static EVP_PKEY *
p256_from_data(const BIGNUM *priv, const unsigned char *pub, size_t publen)
{
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *pkey = NULL;

    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL)
        goto cleanup;
    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                         "P-256", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
                                          publen))
        goto cleanup;
    if (priv != NULL &&
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv))
        goto cleanup;
    params = OSSL_PARAM_BLD_to_param(bld);
    pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (params == NULL || pctx == NULL || EVP_PKEY_fromdata_init(pctx) <= 0)
        goto cleanup;
    if (EVP_PKEY_fromdata(pctx, &pkey, priv != NULL ? EVP_PKEY_KEYPAIR :
                          EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;

cleanup:
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);        /* holds a copy of priv: cleared */
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

krb5_error_code
ks_ecdh_import_private(krb5_context ctx, int32_t group,
                       const unsigned char *priv, size_t len,
                       struct ks_ecdh_key **key_out)
{
    krb5_error_code ret;
    EVP_PKEY *pkey = NULL;
    EC_GROUP *ecg = NULL;
    EC_POINT *pt = NULL;
    BIGNUM *d = NULL;
    unsigned char pub[KS_DEVREG_P256_PUBLIC_LEN];

    *key_out = NULL;
    if (ks_ecdh_public_len(group) == 0)
        return unknown_group(ctx, group);
    if (len != 32) {
        krb5_set_error_message(ctx, EINVAL, "ecdh: a private value of group "
                               "%ld holds 32 bytes, not %zu", (long)group,
                               len);
        return EINVAL;
    }
    if (group == KS_DEVREG_GROUP_X25519) {
        pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, len);
        if (pkey == NULL)
            return openssl_error(ctx, "import an X25519 private key");
        return wrap_key(group, pkey, key_out);
    }

    ecg = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    d = BN_secure_new();
    pt = (ecg != NULL) ? EC_POINT_new(ecg) : NULL;
    if (ecg == NULL || d == NULL || pt == NULL ||
        BN_bin2bn(priv, (int)len, d) == NULL) {
        ret = openssl_error(ctx, "import a P-256 private key");
        goto cleanup;
    }
    if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(ecg)) >= 0) {
        ret = EINVAL;
        krb5_set_error_message(ctx, ret, "ecdh: P-256 private scalar out "
                               "of range");
        goto cleanup;
    }
    if (!EC_POINT_mul(ecg, pt, d, NULL, NULL, NULL) ||
        EC_POINT_point2oct(ecg, pt, POINT_CONVERSION_UNCOMPRESSED, pub,
                           sizeof(pub), NULL) != sizeof(pub)) {
        ret = openssl_error(ctx, "compute a P-256 public key");
        goto cleanup;
    }
    pkey = p256_from_data(d, pub, sizeof(pub));
    if (pkey == NULL) {
        ret = openssl_error(ctx, "import a P-256 private key");
        goto cleanup;
    }
    ret = wrap_key(group, pkey, key_out);

cleanup:
    BN_clear_free(d);
    EC_POINT_free(pt);
    EC_GROUP_free(ecg);
    return ret;
}

int32_t
ks_ecdh_group(const struct ks_ecdh_key *key)
{
    return key->group;
}

krb5_error_code
ks_ecdh_public(krb5_context ctx, const struct ks_ecdh_key *key,
               unsigned char **pub_out, size_t *len_out)
{
    unsigned char *pub;
    size_t len = ks_ecdh_public_len(key->group), got = len;

    *pub_out = NULL;
    *len_out = 0;
    pub = malloc(len);
    if (pub == NULL)
        return ENOMEM;
    if (key->group == KS_DEVREG_GROUP_X25519) {
        if (EVP_PKEY_get_raw_public_key(key->pkey, pub, &got) != 1)
            got = 0;
    } else {
        /* Force the uncompressed form whatever the key was built with. */
        if (EVP_PKEY_set_utf8_string_param(key->pkey, POINT_FORMAT,
                                           "uncompressed") != 1 ||
            EVP_PKEY_get_octet_string_param(key->pkey,
                                            OSSL_PKEY_PARAM_PUB_KEY, pub, len,
                                            &got) != 1)
            got = 0;
    }
    if (got != len || (key->group == KS_DEVREG_GROUP_P256 && pub[0] != 4)) {
        free(pub);
        return openssl_error(ctx, "export a public key");
    }
    *pub_out = pub;
    *len_out = len;
    return 0;
}

/* A public EVP_PKEY for the validated wire value peer of group. */
static krb5_error_code
peer_key(krb5_context ctx, int32_t group, const unsigned char *peer,
         size_t len, EVP_PKEY **pkey_out)
{
    krb5_error_code ret;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    size_t want = ks_ecdh_public_len(group);

    *pkey_out = NULL;
    if (want == 0)
        return unknown_group(ctx, group);
    if (len != want) {
        krb5_set_error_message(ctx, EINVAL, "ecdh: peer public value of "
                               "group %ld holds %zu bytes, not %zu",
                               (long)group, len, want);
        return EINVAL;
    }
    if (group == KS_DEVREG_GROUP_X25519) {
        pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, len);
        if (pkey == NULL)
            return openssl_error(ctx, "import an X25519 public key");
        *pkey_out = pkey;
        return 0;
    }

    if (peer[0] != 4) {
        krb5_set_error_message(ctx, EINVAL, "ecdh: peer P-256 point is not "
                               "in uncompressed form (first byte %02x)",
                               peer[0]);
        return EINVAL;
    }
    pkey = p256_from_data(NULL, peer, len);
    if (pkey != NULL)
        pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    /* Full check: on the curve, not infinity, order n. */
    if (pkey == NULL || pctx == NULL || EVP_PKEY_public_check(pctx) != 1) {
        ret = EINVAL;
        krb5_set_error_message(ctx, ret, "ecdh: peer P-256 public value is "
                               "not a valid point on the curve");
        EVP_PKEY_free(pkey);
        EVP_PKEY_CTX_free(pctx);
        return ret;
    }
    EVP_PKEY_CTX_free(pctx);
    *pkey_out = pkey;
    return 0;
}

krb5_error_code
ks_ecdh_check_public(krb5_context ctx, int32_t group,
                     const unsigned char *peer, size_t len)
{
    krb5_error_code ret;
    EVP_PKEY *pkey;

    ret = peer_key(ctx, group, peer, len, &pkey);
    EVP_PKEY_free(pkey);
    return ret;
}

krb5_error_code
ks_ecdh_derive(krb5_context ctx, const struct ks_ecdh_key *key,
               const unsigned char *peer, size_t peer_len,
               unsigned char z_out[KS_ECDH_SECRET_LEN])
{
    krb5_error_code ret;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *dctx = NULL;
    unsigned char z[KS_ECDH_SECRET_LEN], acc = 0;
    size_t zlen = sizeof(z), i;

    ret = peer_key(ctx, key->group, peer, peer_len, &pkey);
    if (ret)
        return ret;
    dctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
    if (dctx == NULL || EVP_PKEY_derive_init(dctx) <= 0 ||
        EVP_PKEY_derive_set_peer(dctx, pkey) <= 0) {
        ret = openssl_error(ctx, "set up key agreement");
        goto cleanup;
    }
    if (EVP_PKEY_derive(dctx, z, &zlen) <= 0) {
        /* OpenSSL refuses an all-zero X25519 output itself. */
        ret = EINVAL;
        krb5_set_error_message(ctx, ret, "ecdh: key agreement with the "
                               "peer's public value failed (low-order or "
                               "invalid point)");
        goto cleanup;
    }
    if (zlen != sizeof(z)) {
        ret = openssl_error(ctx, "derive a 32-byte shared secret");
        goto cleanup;
    }
    for (i = 0; i < zlen; i++)
        acc |= z[i];
    if (acc == 0) {
        ret = EINVAL;
        krb5_set_error_message(ctx, ret, "ecdh: shared secret is all zero "
                               "(low-order peer public value)");
        goto cleanup;
    }
    memcpy(z_out, z, sizeof(z));

cleanup:
    ks_zero(z, sizeof(z));
    EVP_PKEY_CTX_free(dctx);
    EVP_PKEY_free(pkey);
    return ret;
}

void
ks_ecdh_free(struct ks_ecdh_key *key)
{
    if (key == NULL)
        return;
    EVP_PKEY_free(key->pkey);
    ks_zfree(key, sizeof(*key));
}
