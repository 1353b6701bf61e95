/*
 * KINK cryptography: KEYMAT, the PRF (with racoon2's variant), the KINK
 * checksum and KINK_ENCRYPT; see kink_keymat.h for the formulas.
 *
 * Everything RFC-conformant goes through krb5's public crypto API
 * (krb5_c_prf, krb5_c_make_checksum_iov, krb5_c_encrypt ...).  The one
 * exception is racoon2's PRF: it applies the derived key DK(key, "prf")
 * to a 20-octet input, and MIT krb5 exposes DK neither directly nor
 * through any function that encrypts with it (krb5_c_encrypt uses
 * DK(key, usage | 0xAA) with a confounder and an HMAC, krb5_c_prf only
 * the 16-octet truncated hash, krb5_c_derive_prfplus is RFC 6113's
 * PRF+).  So for that variant this file derives DK itself, as RFC 3961
 * section 5.1 defines it, from OpenSSL's AES and SHA-1 (no home-made
 * primitive): DR = E(key, n-fold("prf")) [| E(key, that) for aes256],
 * random-to-key the identity (RFC 3962), then AES-CBC-CTS with a zero IV
 * (OpenSSL's CS3 mode, the Kerberos one).  The same path with the hash
 * truncated to 16 octets is RFC 3962's PRF, which the unit tests hold
 * equal to krb5_c_prf: that proves the derivation and the n-fold constant.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "kink_keymat.h"
#include "ks_util.h"

#define AES_BLOCK 16
#define SHA1_LEN 20

/* Longest KEYMAT asked for: far more than any ESP/AH algorithm pair. */
#define KINK_KEYMAT_MAX 65535

/*
 * n-fold("prf", 128 bits), RFC 3961 section 5.1: the DK constant of the
 * PRF for 16-octet-block ciphers.  tests/unit/kink_vectors.py computes it
 * (its n-fold is checked against RFC 3961 appendix A.1).
 */
static const uint8_t nfold_prf_128[AES_BLOCK] = {
    0xc0, 0x8b, 0xe5, 0x21, 0x22, 0xf8, 0xf0, 0x23,
    0x39, 0x89, 0x08, 0xfd, 0xbc, 0x08, 0xce, 0x21
};

/* A krb5_data over len octets at p (krb5's make_data() is internal). */
static krb5_data
kdata(const void *p, size_t len)
{
    krb5_data d;

    d.magic = KV5M_DATA;
    d.length = (unsigned int)len;
    d.data = (char *)p;
    return d;
}

/* True for the enctypes racoon2 computes its own PRF for. */
static int
is_aes_sha1(krb5_enctype enctype)
{
    return enctype == ENCTYPE_AES128_CTS_HMAC_SHA1_96 ||
        enctype == ENCTYPE_AES256_CTS_HMAC_SHA1_96;
}

/* Set a message naming what failed in OpenSSL; KRB5_CRYPTO_INTERNAL. */
static krb5_error_code
openssl_error(krb5_context ctx, const char *what)
{
    krb5_set_error_message(ctx, KRB5_CRYPTO_INTERNAL,
                           "kink: OpenSSL failed in %s", what);
    return KRB5_CRYPTO_INTERNAL;
}

/* AES-CBC-CTS (CS3, zero IV) of len >= 16 octets of in into out under an
 * AES-128 or AES-256 key. */
static krb5_error_code
aes_cts_encrypt(krb5_context ctx, const uint8_t *key, size_t key_len,
                const uint8_t *in, size_t len, uint8_t *out)
{
    krb5_error_code ret = 0;
    EVP_CIPHER *cipher = NULL;
    EVP_CIPHER_CTX *c = NULL;
    uint8_t iv[AES_BLOCK] = { 0 };
    OSSL_PARAM params[2];
    int outl = 0, finl = 0;

    if (len < AES_BLOCK || len > INT_MAX)
        return EINVAL;
    cipher = EVP_CIPHER_fetch(NULL, key_len == 16 ? "AES-128-CBC-CTS" :
                              "AES-256-CBC-CTS", NULL);
    c = EVP_CIPHER_CTX_new();
    if (cipher == NULL || c == NULL) {
        ret = openssl_error(ctx, "fetching AES-CBC-CTS");
        goto cleanup;
    }
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_CIPHER_PARAM_CTS_MODE,
                                                 (char *)"CS3", 0);
    params[1] = OSSL_PARAM_construct_end();
    /* CTS needs the whole input in one update. */
    if (EVP_EncryptInit_ex2(c, cipher, key, iv, params) != 1 ||
        EVP_EncryptUpdate(c, out, &outl, in, (int)len) != 1 ||
        EVP_EncryptFinal_ex(c, out + outl, &finl) != 1 ||
        (size_t)outl + (size_t)finl != len) {
        ret = openssl_error(ctx, "AES-CBC-CTS encryption");
        goto cleanup;
    }

cleanup:
    EVP_CIPHER_CTX_free(c);
    EVP_CIPHER_free(cipher);
    return ret;
}

krb5_error_code
kink_prf_simplified_aes(krb5_context ctx, const krb5_keyblock *key,
                        const uint8_t *in, size_t in_len, size_t hash_len,
                        uint8_t *out)
{
    krb5_error_code ret;
    uint8_t dk[32], hash[SHA1_LEN];
    unsigned int md_len = 0;
    size_t i;

    if (!is_aes_sha1(key->enctype) || (key->length != 16 &&
                                       key->length != 32) ||
        (hash_len != AES_BLOCK && hash_len != SHA1_LEN)) {
        krb5_set_error_message(ctx, EINVAL, "kink: the simplified-profile "
                               "AES PRF takes an aes128/aes256-cts-hmac-"
                               "sha1-96 key and 16 or 20 hash octets");
        return EINVAL;
    }

    /* DR(key, "prf"): K1 = E(key, n-fold), K2 = E(key, K1), ... up to the
     * key length; random-to-key is the identity for AES. */
    ret = aes_cts_encrypt(ctx, key->contents, key->length, nfold_prf_128,
                          AES_BLOCK, dk);
    for (i = AES_BLOCK; ret == 0 && i < key->length; i += AES_BLOCK) {
        ret = aes_cts_encrypt(ctx, key->contents, key->length,
                              dk + i - AES_BLOCK, AES_BLOCK, dk + i);
    }
    if (ret)
        goto cleanup;

    if (EVP_Digest(in, in_len, hash, &md_len, EVP_sha1(), NULL) != 1 ||
        md_len != SHA1_LEN) {
        ret = openssl_error(ctx, "SHA-1");
        goto cleanup;
    }
    ret = aes_cts_encrypt(ctx, dk, key->length, hash, hash_len, out);

cleanup:
    ks_zero(dk, sizeof(dk));
    ks_zero(hash, sizeof(hash));
    return ret;
}

krb5_error_code
kink_prf_length(krb5_context ctx, enum kink_prf_variant variant,
                krb5_enctype enctype, size_t *len_out)
{
    krb5_error_code ret;
    size_t len;

    *len_out = 0;
    if (variant == KINK_PRF_RACOON2 && is_aes_sha1(enctype)) {
        *len_out = SHA1_LEN;
        return 0;
    }
    ret = krb5_c_prf_length(ctx, enctype, &len);
    if (ret)
        return ret;
    if (len == 0 || len > KINK_PRF_MAX) {
        krb5_set_error_message(ctx, KRB5_BAD_ENCTYPE, "kink: enctype %d "
                               "has an unusable PRF length %zu",
                               (int)enctype, len);
        return KRB5_BAD_ENCTYPE;
    }
    *len_out = len;
    return 0;
}

krb5_error_code
kink_prf(krb5_context ctx, enum kink_prf_variant variant,
         const krb5_keyblock *key, const uint8_t *in, size_t in_len,
         uint8_t *out)
{
    krb5_error_code ret;
    krb5_data input, output;
    size_t len;

    if (variant != KINK_PRF_RFC && variant != KINK_PRF_RACOON2)
        return EINVAL;
    if (variant == KINK_PRF_RACOON2 && is_aes_sha1(key->enctype))
        return kink_prf_simplified_aes(ctx, key, in, in_len, SHA1_LEN, out);

    ret = kink_prf_length(ctx, variant, key->enctype, &len);
    if (ret)
        return ret;
    if (in_len > UINT_MAX)
        return EINVAL;
    input = kdata(in, in_len);
    output = kdata(out, len);
    return krb5_c_prf(ctx, key, &input, &output);
}

krb5_error_code
kink_keymat_pfs(krb5_context ctx, enum kink_prf_variant variant,
                const krb5_keyblock *session_key, const uint8_t *gxy,
                size_t gxy_len, uint8_t protocol, uint32_t spi,
                const uint8_t *ni, size_t ni_len, const uint8_t *nr,
                size_t nr_len, uint8_t *out, size_t out_len)
{
    krb5_error_code ret;
    uint8_t *seed = NULL, k[KINK_PRF_MAX];
    size_t prf_len = 0, src_len, seed_len, done, take;
    uint8_t *src, *p;

    if (out == NULL || out_len == 0 || out_len > KINK_KEYMAT_MAX ||
        ni == NULL || ni_len == 0 || ni_len > KINK_KEYMAT_MAX ||
        (nr == NULL && nr_len != 0) || nr_len > KINK_KEYMAT_MAX ||
        (gxy == NULL && gxy_len != 0) || gxy_len > KINK_KEYMAT_MAX) {
        krb5_set_error_message(ctx, EINVAL, "kink: KEYMAT needs Ni, a "
                               "length from 1 to %d and Nr or g^xy only "
                               "with a length", KINK_KEYMAT_MAX);
        if (out != NULL && out_len > 0)
            ks_zero(out, out_len);
        return EINVAL;
    }
    ret = kink_prf_length(ctx, variant, session_key->enctype, &prf_len);
    if (ret)
        goto cleanup;

    /* seed = [K(n-1) |] src, src = [g^xy |] protocol | SPI | Ni_b
     * [| Nr_b]; the lengths are bounded above, so no sum overflows. */
    src_len = gxy_len + 1 + 4 + ni_len + nr_len;
    seed_len = prf_len + src_len;
    seed = malloc(seed_len);
    if (seed == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    src = seed + prf_len;
    p = src;
    if (gxy_len > 0) {
        memcpy(p, gxy, gxy_len);
        p += gxy_len;
    }
    p[0] = protocol;
    p[1] = (uint8_t)(spi >> 24);
    p[2] = (uint8_t)(spi >> 16);
    p[3] = (uint8_t)(spi >> 8);
    p[4] = (uint8_t)spi;
    memcpy(p + 5, ni, ni_len);
    if (nr_len > 0)
        memcpy(p + 5 + ni_len, nr, nr_len);

    /* K1 = prf(SKEYID_d, src); Kn = prf(SKEYID_d, K(n-1) | src).  seed
     * holds g^xy: it is zeroed with the rest below. */
    for (done = 0; done < out_len; done += take) {
        if (done == 0)
            ret = kink_prf(ctx, variant, session_key, src, src_len, k);
        else
            ret = kink_prf(ctx, variant, session_key, seed, seed_len, k);
        if (ret)
            goto cleanup;
        take = (out_len - done < prf_len) ? out_len - done : prf_len;
        memcpy(out + done, k, take);
        memcpy(seed, k, prf_len);
    }

cleanup:
    if (ret)
        ks_zero(out, out_len);
    if (seed != NULL)
        ks_zfree(seed, seed_len);
    ks_zero(k, sizeof(k));
    return ret;
}

krb5_error_code
kink_keymat_variant(krb5_context ctx, enum kink_prf_variant variant,
                    const krb5_keyblock *session_key, uint8_t protocol,
                    uint32_t spi, const uint8_t *ni, size_t ni_len,
                    const uint8_t *nr, size_t nr_len, uint8_t *out,
                    size_t out_len)
{
    return kink_keymat_pfs(ctx, variant, session_key, NULL, 0, protocol, spi,
                           ni, ni_len, nr, nr_len, out, out_len);
}

krb5_error_code
kink_keymat(krb5_context ctx, const krb5_keyblock *session_key,
            uint8_t protocol, uint32_t spi, const uint8_t *ni, size_t ni_len,
            const uint8_t *nr, size_t nr_len, uint8_t *out, size_t out_len)
{
    return kink_keymat_variant(ctx, KINK_PRF_RFC, session_key, protocol, spi,
                               ni, ni_len, nr, nr_len, out, out_len);
}

/*
 * The KINK checksum type of key: its enctype's mandatory checksum type,
 * which krb5 picks for cksumtype 0 and names only in a computed checksum
 * (one over no data), and its length.  RFC 4430 section 4 requires a
 * keyed type.
 */
static krb5_error_code
kink_cksumtype(krb5_context ctx, const krb5_keyblock *key,
               krb5_cksumtype *type_out, size_t *len_out)
{
    krb5_error_code ret;
    krb5_data empty = kdata(NULL, 0);
    krb5_checksum ck;

    ret = krb5_c_make_checksum(ctx, 0, key, KINK_KU_CKSUM, &empty, &ck);
    if (ret)
        return ret;
    *type_out = ck.checksum_type;
    *len_out = ck.length;
    krb5_free_checksum_contents(ctx, &ck);
    if (!krb5_c_is_keyed_cksum(*type_out)) {
        krb5_set_error_message(ctx, KRB5KRB_AP_ERR_INAPP_CKSUM, "kink: the "
                               "mandatory checksum type %d of enctype %d "
                               "is not keyed", (int)*type_out,
                               (int)key->enctype);
        return KRB5KRB_AP_ERR_INAPP_CKSUM;
    }
    return 0;
}

/* The one KRB5_CRYPTO_TYPE_CHECKSUM element of iov, or NULL if there is
 * not exactly one. */
static const krb5_crypto_iov *
checksum_element(const krb5_crypto_iov *iov, size_t n)
{
    const krb5_crypto_iov *found = NULL;
    size_t i;

    for (i = 0; i < n; i++) {
        if (iov[i].flags != KRB5_CRYPTO_TYPE_CHECKSUM)
            continue;
        if (found != NULL)
            return NULL;
        found = &iov[i];
    }
    return found;
}

krb5_error_code
kink_checksum_length(krb5_context ctx, const krb5_keyblock *key,
                     size_t *len_out)
{
    krb5_cksumtype type;

    *len_out = 0;
    return kink_cksumtype(ctx, key, &type, len_out);
}

krb5_error_code
kink_checksum_make(krb5_context ctx, const krb5_keyblock *key,
                   krb5_crypto_iov *iov, size_t n)
{
    krb5_error_code ret;
    krb5_cksumtype type;
    size_t len;
    const krb5_crypto_iov *ck = checksum_element(iov, n);

    if (ck == NULL) {
        krb5_set_error_message(ctx, EINVAL, "kink: a checksum needs "
                               "exactly one checksum element");
        return EINVAL;
    }
    ret = kink_cksumtype(ctx, key, &type, &len);
    if (ret)
        return ret;
    if (ck->data.length != len) {
        krb5_set_error_message(ctx, EINVAL, "kink: the Cksum field has "
                               "%u octets, checksum type %d makes %zu",
                               ck->data.length, (int)type, len);
        return EINVAL;
    }
    return krb5_c_make_checksum_iov(ctx, type, key, KINK_KU_CKSUM, iov, n);
}

krb5_error_code
kink_checksum_verify(krb5_context ctx, const krb5_keyblock *key,
                     const krb5_crypto_iov *iov, size_t n)
{
    krb5_error_code ret;
    krb5_cksumtype type;
    krb5_boolean valid = FALSE;
    size_t len;
    const krb5_crypto_iov *ck = checksum_element(iov, n);

    if (ck == NULL) {
        krb5_set_error_message(ctx, EINVAL, "kink: a checksum needs "
                               "exactly one checksum element");
        return EINVAL;
    }
    ret = kink_cksumtype(ctx, key, &type, &len);
    if (ret)
        return ret;
    /* A checksum of another length is as wrong as one of other bytes. */
    if (ck->data.length == len) {
        ret = krb5_c_verify_checksum_iov(ctx, type, key, KINK_KU_CKSUM, iov,
                                         n, &valid);
        if (ret)
            return ret;
    }
    if (!valid) {
        krb5_set_error_message(ctx, KRB5KRB_AP_ERR_BAD_INTEGRITY,
                               "kink: the message checksum does not verify "
                               "with the session key");
        return KRB5KRB_AP_ERR_BAD_INTEGRITY;
    }
    return 0;
}

krb5_error_code
kink_encrypt(krb5_context ctx, const krb5_keyblock *key,
             const uint8_t *plain, size_t plain_len, uint8_t **out,
             size_t *out_len)
{
    krb5_error_code ret;
    krb5_data input;
    krb5_enc_data enc;
    size_t len;

    *out = NULL;
    *out_len = 0;
    if (plain_len > UINT_MAX / 2)
        return EINVAL;
    ret = krb5_c_encrypt_length(ctx, key->enctype, plain_len, &len);
    if (ret)
        return ret;
    memset(&enc, 0, sizeof(enc));
    enc.ciphertext.data = malloc(len > 0 ? len : 1);
    if (enc.ciphertext.data == NULL)
        return ENOMEM;
    enc.ciphertext.length = (unsigned int)len;
    input = kdata(plain, plain_len);
    ret = krb5_c_encrypt(ctx, key, KINK_KU_ENCRYPT, NULL, &input, &enc);
    if (ret) {
        free(enc.ciphertext.data);
        return ret;
    }
    *out = (uint8_t *)enc.ciphertext.data;
    *out_len = enc.ciphertext.length;
    return 0;
}

krb5_error_code
kink_decrypt(krb5_context ctx, const krb5_keyblock *key,
             const uint8_t *cipher, size_t cipher_len, uint8_t **out,
             size_t *out_len)
{
    krb5_error_code ret;
    krb5_enc_data enc;
    krb5_data output;

    *out = NULL;
    *out_len = 0;
    if (cipher_len == 0 || cipher_len > UINT_MAX)
        return KRB5KRB_AP_ERR_BAD_INTEGRITY;
    memset(&enc, 0, sizeof(enc));
    enc.enctype = key->enctype;
    enc.ciphertext = kdata(cipher, cipher_len);
    /* The plaintext is never longer than the ciphertext. */
    output.magic = KV5M_DATA;
    output.length = (unsigned int)cipher_len;
    output.data = malloc(cipher_len);
    if (output.data == NULL)
        return ENOMEM;
    ret = krb5_c_decrypt(ctx, key, KINK_KU_ENCRYPT, NULL, &enc, &output);
    if (ret) {
        ks_zfree(output.data, cipher_len);
        if (ret == KRB5KRB_AP_ERR_BAD_INTEGRITY) {
            krb5_set_error_message(ctx, ret, "kink: KINK_ENCRYPT does not "
                                   "decrypt with the session key");
        }
        return ret;
    }
    *out = (uint8_t *)output.data;
    *out_len = output.length;
    return 0;
}
