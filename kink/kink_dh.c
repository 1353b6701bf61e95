/*
 * Ephemeral Diffie-Hellman for KINK's PFS; see kink_dh.h.
 *
 * MODP-2048 is OpenSSL 3's named DH group "modp_2048" (RFC 3526 group
 * 14, with q = (p-1)/2 so that EVP_PKEY_public_check tests the subgroup)
 * through EVP_PKEY; ECP-256 is lib/ks_ecdh.h's P-256 (the devreg helper),
 * whose wire form is RFC 5903's x || y with the SEC1 0x04 prefix: this
 * file adds and strips that one octet.  The only bignum work done here is
 * what EVP has no call for: the 1 < y < p-1 range check (done before
 * OpenSSL sees the value, so that the message names the cause) and g^x
 * for an imported test private key (OpenSSL 3 imports a DH key pair only
 * with its public half).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/dh.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "kink_dh.h"
#include "kink_isakmp.h"
#include "ks_ecdh.h"
#include "ks_util.h"

#define MODP_LEN 256            /* octets of the RFC 3526 2048-bit prime */
#define ECP_COORD 32            /* octets of a P-256 coordinate */
#define MODP_GROUP_NAME "modp_2048"

struct kink_dh {
    uint16_t group;
    EVP_PKEY *pkey;             /* MODP-2048 */
    struct ks_ecdh_key *ec;     /* ECP-256 */
};

/* Set a message naming what failed in OpenSSL; KRB5_CRYPTO_INTERNAL. */
static krb5_error_code
openssl_error(krb5_context ctx, const char *what)
{
    krb5_set_error_message(ctx, KRB5_CRYPTO_INTERNAL,
                           "kink: OpenSSL failed to %s", what);
    return KRB5_CRYPTO_INTERNAL;
}

static krb5_error_code
unknown_group(krb5_context ctx, uint16_t group)
{
    krb5_set_error_message(ctx, EINVAL, "kink: unknown Diffie-Hellman group "
                           "%u (MODP-2048 is 14, ECP-256 19)",
                           (unsigned int)group);
    return EINVAL;
}

size_t
kink_dh_public_len(uint16_t group)
{
    switch (group) {
    case KINK_GROUP_MODP_2048:
        return MODP_LEN;
    case KINK_GROUP_ECP_256:
        return 2 * ECP_COORD;
    default:
        return 0;
    }
}

size_t
kink_dh_secret_len(uint16_t group)
{
    switch (group) {
    case KINK_GROUP_MODP_2048:
        return MODP_LEN;
    case KINK_GROUP_ECP_256:
        return ECP_COORD;
    default:
        return 0;
    }
}

uint16_t
kink_dh_group(const struct kink_dh *dh)
{
    return dh->group;
}

static krb5_error_code
new_dh(uint16_t group, struct kink_dh **out)
{
    *out = calloc(1, sizeof(**out));
    if (*out == NULL)
        return ENOMEM;
    (*out)->group = group;
    return 0;
}

/* A MODP-2048 EVP_PKEY from a public value and an optional private one;
 * NULL on failure.  OpenSSL fills in p, q and g from the group name. */
static EVP_PKEY *
modp_from_data(const BIGNUM *priv, const BIGNUM *pub)
{
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *pkey = NULL;

    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                         MODP_GROUP_NAME, 0) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PUB_KEY, pub) ||
        (priv != NULL &&
         !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv)))
        goto cleanup;
    params = OSSL_PARAM_BLD_to_param(bld);
    pctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
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

static krb5_error_code
modp_generate(krb5_context ctx, EVP_PKEY **pkey_out)
{
    EVP_PKEY_CTX *pctx;
    OSSL_PARAM params[2];
    int ok;

    *pkey_out = NULL;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *)MODP_GROUP_NAME, 0);
    params[1] = OSSL_PARAM_construct_end();
    /* OpenSSL picks the exponent length of the named group (twice its
     * security strength, RFC 3526 section 8 / SP 800-56A). */
    pctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
    ok = pctx != NULL && EVP_PKEY_keygen_init(pctx) > 0 &&
        EVP_PKEY_CTX_set_params(pctx, params) > 0 &&
        EVP_PKEY_generate(pctx, pkey_out) > 0;
    EVP_PKEY_CTX_free(pctx);
    if (!ok) {
        EVP_PKEY_free(*pkey_out);
        *pkey_out = NULL;
        return openssl_error(ctx, "generate a MODP-2048 key pair");
    }
    return 0;
}

/* A MODP-2048 key pair from the exponent priv (1 < x < p-1). */
static krb5_error_code
modp_import(krb5_context ctx, const unsigned char *priv, size_t len,
            EVP_PKEY **pkey_out)
{
    krb5_error_code ret = 0;
    BIGNUM *p = NULL, *pm1 = NULL, *g = NULL, *x = NULL, *y = NULL;
    BN_CTX *bnctx = NULL;

    *pkey_out = NULL;
    if (len == 0 || len > MODP_LEN) {
        krb5_set_error_message(ctx, EINVAL, "kink: a MODP-2048 private "
                               "value holds 1 to %d octets, not %zu",
                               MODP_LEN, len);
        return EINVAL;
    }
    p = BN_get_rfc3526_prime_2048(NULL);
    pm1 = BN_dup(p);
    g = BN_new();
    x = BN_secure_new();
    y = BN_new();
    bnctx = BN_CTX_secure_new();
    if (p == NULL || pm1 == NULL || g == NULL || x == NULL || y == NULL ||
        bnctx == NULL || !BN_sub_word(pm1, 1) || !BN_set_word(g, 2) ||
        BN_bin2bn(priv, (int)len, x) == NULL) {
        ret = openssl_error(ctx, "import a MODP-2048 private value");
        goto cleanup;
    }
    if (BN_cmp(x, BN_value_one()) <= 0 || BN_cmp(x, pm1) >= 0) {
        ret = EINVAL;
        krb5_set_error_message(ctx, ret, "kink: MODP-2048 private value out "
                               "of range (1 < x < p-1)");
        goto cleanup;
    }
    BN_set_flags(x, BN_FLG_CONSTTIME);
    if (!BN_mod_exp(y, g, x, p, bnctx)) {
        ret = openssl_error(ctx, "compute a MODP-2048 public value");
        goto cleanup;
    }
    *pkey_out = modp_from_data(x, y);
    if (*pkey_out == NULL)
        ret = openssl_error(ctx, "import a MODP-2048 key pair");

cleanup:
    BN_free(p);
    BN_free(pm1);
    BN_free(g);
    BN_clear_free(x);
    BN_free(y);
    BN_CTX_free(bnctx);
    return ret;
}

/* A key pair of group: fresh (priv NULL) or from the private value priv
 * (the known-answer test hook). */
static krb5_error_code
make_dh(krb5_context ctx, uint16_t group, const unsigned char *priv,
        size_t len, struct kink_dh **out)
{
    krb5_error_code ret;
    struct kink_dh *dh = NULL;

    *out = NULL;
    if (kink_dh_public_len(group) == 0)
        return unknown_group(ctx, group);
    ret = new_dh(group, &dh);
    if (ret)
        return ret;
    if (group == KINK_GROUP_MODP_2048)
        ret = priv == NULL ? modp_generate(ctx, &dh->pkey) :
            modp_import(ctx, priv, len, &dh->pkey);
    else
        ret = priv == NULL ?
            ks_ecdh_generate(ctx, KS_DEVREG_GROUP_P256, &dh->ec) :
            ks_ecdh_import_private(ctx, KS_DEVREG_GROUP_P256, priv, len,
                                   &dh->ec);
    if (ret) {
        kink_dh_free(dh);
        return ret;
    }
    *out = dh;
    return 0;
}

krb5_error_code
kink_dh_generate(krb5_context ctx, uint16_t group, struct kink_dh **out)
{
    return make_dh(ctx, group, NULL, 0, out);
}

krb5_error_code
kink_dh_import_private(krb5_context ctx, uint16_t group,
                       const unsigned char *priv, size_t len,
                       struct kink_dh **out)
{
    if (priv == NULL) {
        *out = NULL;
        krb5_set_error_message(ctx, EINVAL, "kink: no private value");
        return EINVAL;
    }
    return make_dh(ctx, group, priv, len, out);
}

/* Refuse an output buffer that is not exactly want octets. */
static krb5_error_code
check_len(krb5_context ctx, const char *what, size_t len, size_t want)
{
    if (len == want)
        return 0;
    krb5_set_error_message(ctx, EINVAL, "kink: the Diffie-Hellman %s takes "
                           "%zu octets, not %zu", what, want, len);
    return EINVAL;
}

krb5_error_code
kink_dh_public(krb5_context ctx, const struct kink_dh *dh,
               unsigned char *out, size_t len)
{
    krb5_error_code ret;
    BIGNUM *y = NULL;
    unsigned char *pub = NULL;
    size_t publen = 0;

    ret = check_len(ctx, "public value", len, kink_dh_public_len(dh->group));
    if (ret)
        return ret;
    if (dh->group == KINK_GROUP_MODP_2048) {
        /* RFC 2409 section 5: left-padded to the length of p. */
        if (EVP_PKEY_get_bn_param(dh->pkey, OSSL_PKEY_PARAM_PUB_KEY,
                                  &y) != 1 ||
            BN_bn2binpad(y, out, (int)len) != (int)len)
            ret = openssl_error(ctx, "export a MODP-2048 public value");
        BN_free(y);
        return ret;
    }

    ret = ks_ecdh_public(ctx, dh->ec, &pub, &publen);
    if (ret)
        return ret;
    /* SEC1 0x04 | x | y -> RFC 5903's x | y. */
    if (publen != len + 1 || pub[0] != 4)
        ret = openssl_error(ctx, "export a P-256 public value");
    else
        memcpy(out, pub + 1, len);
    free(pub);
    return ret;
}

/* The peer's MODP-2048 public value as an EVP_PKEY, refused unless
 * 1 < y < p-1 and y^q = 1 (RFC 2785 section 3.1; an honest g^x always is,
 * 2 being a quadratic residue mod this p). */
static krb5_error_code
modp_peer(krb5_context ctx, const unsigned char *peer, EVP_PKEY **pkey_out)
{
    krb5_error_code ret = 0;
    BIGNUM *p = NULL, *y = NULL;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *pctx = NULL;

    *pkey_out = NULL;
    p = BN_get_rfc3526_prime_2048(NULL);
    y = BN_bin2bn(peer, MODP_LEN, NULL);
    if (p == NULL || y == NULL || !BN_sub_word(p, 1)) {
        ret = openssl_error(ctx, "read a MODP-2048 public value");
        goto cleanup;
    }
    /* p now holds p-1. */
    if (BN_cmp(y, BN_value_one()) <= 0 || BN_cmp(y, p) >= 0) {
        ret = EINVAL;
        krb5_set_error_message(ctx, ret, "kink: peer MODP-2048 public value "
                               "out of range (1 < y < p-1 required)");
        goto cleanup;
    }
    pkey = modp_from_data(NULL, y);
    if (pkey == NULL) {
        ret = openssl_error(ctx, "import a MODP-2048 public value");
        goto cleanup;
    }
    pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (pctx == NULL) {
        ret = openssl_error(ctx, "check a MODP-2048 public value");
        goto cleanup;
    }
    if (EVP_PKEY_public_check(pctx) != 1) {
        ret = EINVAL;
        krb5_set_error_message(ctx, ret, "kink: peer MODP-2048 public value "
                               "is not in the prime-order subgroup");
        goto cleanup;
    }
    *pkey_out = pkey;
    pkey = NULL;

cleanup:
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(pkey);
    BN_free(p);
    BN_free(y);
    return ret;
}

static krb5_error_code
modp_derive(krb5_context ctx, EVP_PKEY *ours, const unsigned char *peer,
            unsigned char *secret)
{
    krb5_error_code ret;
    EVP_PKEY *theirs = NULL;
    EVP_PKEY_CTX *dctx = NULL;
    size_t len = MODP_LEN;

    ret = modp_peer(ctx, peer, &theirs);
    if (ret)
        return ret;
    /* Padding on: g^xy keeps its leading zero octets (RFC 2409 uses it
     * as a 256-octet string in KEYMAT). */
    dctx = EVP_PKEY_CTX_new_from_pkey(NULL, ours, NULL);
    if (dctx == NULL || EVP_PKEY_derive_init(dctx) <= 0 ||
        EVP_PKEY_CTX_set_dh_pad(dctx, 1) <= 0 ||
        EVP_PKEY_derive_set_peer(dctx, theirs) <= 0 ||
        EVP_PKEY_derive(dctx, secret, &len) <= 0 || len != MODP_LEN)
        ret = openssl_error(ctx, "compute the MODP-2048 shared secret");
    EVP_PKEY_CTX_free(dctx);
    EVP_PKEY_free(theirs);
    return ret;
}

static krb5_error_code
ecp_derive(krb5_context ctx, const struct ks_ecdh_key *ours,
           const unsigned char *peer, unsigned char *secret)
{
    krb5_error_code ret;
    unsigned char point[1 + 2 * ECP_COORD];

    /* RFC 5903's x | y -> SEC1 uncompressed for ks_ecdh (which checks
     * that the point is on the curve). */
    point[0] = 4;
    memcpy(point + 1, peer, 2 * ECP_COORD);
    ret = ks_ecdh_derive(ctx, ours, point, sizeof(point), secret);
    if (ret == EINVAL)
        krb5_prepend_error_message(ctx, ret, "kink: peer ECP-256 KE refused");
    return ret;
}

krb5_error_code
kink_dh_derive(krb5_context ctx, const struct kink_dh *dh,
               const unsigned char *peer, size_t peer_len,
               unsigned char *secret, size_t secret_len)
{
    krb5_error_code ret;
    size_t want = kink_dh_public_len(dh->group);

    ret = check_len(ctx, "shared secret", secret_len,
                    kink_dh_secret_len(dh->group));
    if (ret)
        goto cleanup;
    if (peer == NULL || peer_len != want) {
        ret = EINVAL;
        krb5_set_error_message(ctx, ret, "kink: peer KE of group %u holds "
                               "%zu octets, not %zu",
                               (unsigned int)dh->group, peer_len, want);
        goto cleanup;
    }
    if (dh->group == KINK_GROUP_MODP_2048)
        ret = modp_derive(ctx, dh->pkey, peer, secret);
    else
        ret = ecp_derive(ctx, dh->ec, peer, secret);

cleanup:
    if (ret && secret != NULL)
        ks_zero(secret, secret_len);
    return ret;
}

void
kink_dh_free(struct kink_dh *dh)
{
    if (dh == NULL)
        return;
    EVP_PKEY_free(dh->pkey);        /* OpenSSL clears the private part */
    ks_ecdh_free(dh->ec);
    ks_zfree(dh, sizeof(*dh));
}
