/* The RFC 8636 PKINIT KDF through OpenSSL's SSKDF; see ks_pkinit_kdf.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "ks_asn1.h"
#include "ks_iana.h"
#include "ks_pkinit_kdf.h"
#include "ks_util.h"

/* The longest keybytes of any enctype krb5 knows (aes256, camellia256). */
#define KS_MAX_KEYBYTES 64

/* The algorithm OID and OpenSSL digest name of hash, or NULLs. */
static void
hash_names(enum ks_pkinit_kdf_hash hash, const char **oid,
           const char **digest)
{
    *oid = *digest = NULL;
    switch (hash) {
    case KS_PKINIT_KDF_SHA1:
        *oid = KS_OID_PKINIT_KDF_SHA1;
        *digest = "SHA1";
        break;
    case KS_PKINIT_KDF_SHA256:
        *oid = KS_OID_PKINIT_KDF_SHA256;
        *digest = "SHA256";
        break;
    case KS_PKINIT_KDF_SHA512:
        *oid = KS_OID_PKINIT_KDF_SHA512;
        *digest = "SHA512";
        break;
    }
}

/* SP 800-56C one-step KDF with hash digest of z and info into out. */
static krb5_error_code
sskdf(const char *digest, const unsigned char *z, size_t zlen,
      const unsigned char *info, size_t infolen, unsigned char *out,
      size_t outlen)
{
    EVP_KDF *kdf;
    EVP_KDF_CTX *kctx = NULL;
    OSSL_PARAM params[4], *p = params;
    krb5_error_code ret = KRB5_CRYPTO_INTERNAL;

    kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_SSKDF, NULL);
    if (kdf == NULL)
        goto cleanup;
    kctx = EVP_KDF_CTX_new(kdf);
    if (kctx == NULL)
        goto cleanup;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                            (char *)digest, 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET,
                                             (void *)z, zlen);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                             (void *)info, infolen);
    *p = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(kctx, out, outlen, params) == 1)
        ret = 0;

cleanup:
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    ERR_clear_error();
    return ret;
}

krb5_error_code
ks_pkinit_kdf_bytes(krb5_context ctx, enum ks_pkinit_kdf_hash hash,
                    const unsigned char *z, size_t zlen,
                    krb5_const_principal client, krb5_const_principal server,
                    krb5_enctype enctype, const krb5_data *as_req,
                    const krb5_data *pk_as_rep, unsigned char *out,
                    size_t outlen)
{
    const char *oid, *digest;
    unsigned char *info = NULL;
    size_t infolen = 0;
    krb5_error_code ret;

    hash_names(hash, &oid, &digest);
    if (oid == NULL || z == NULL || zlen == 0 || outlen == 0)
        return EINVAL;
    ret = ks_pkinit_other_info_der(ctx, oid, client, server, enctype, as_req,
                                   pk_as_rep, &info, &infolen);
    if (ret)
        return ret;
    ret = sskdf(digest, z, zlen, info, infolen, out, outlen);
    free(info);
    return ret;
}

krb5_error_code
ks_pkinit_kdf(krb5_context ctx, enum ks_pkinit_kdf_hash hash,
              const unsigned char *z, size_t zlen,
              krb5_const_principal client, krb5_const_principal server,
              krb5_enctype enctype, const krb5_data *as_req,
              const krb5_data *pk_as_rep, krb5_keyblock *key_out)
{
    unsigned char rnd[KS_MAX_KEYBYTES];
    size_t keybytes, keylength;
    krb5_keyblock key;
    krb5_data rnd_data;
    krb5_error_code ret;

    memset(&key, 0, sizeof(key));
    ret = krb5_c_keylengths(ctx, enctype, &keybytes, &keylength);
    if (ret)
        return ret;
    if (keybytes == 0 || keybytes > sizeof(rnd))
        return KRB5_BAD_ENCTYPE;
    ret = ks_pkinit_kdf_bytes(ctx, hash, z, zlen, client, server, enctype,
                              as_req, pk_as_rep, rnd, keybytes);
    if (ret)
        goto cleanup;
    key.magic = KV5M_KEYBLOCK;
    key.enctype = enctype;
    key.length = keylength;
    key.contents = malloc(keylength);
    if (key.contents == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    rnd_data.magic = KV5M_DATA;
    rnd_data.data = (char *)rnd;
    rnd_data.length = keybytes;
    ret = krb5_c_random_to_key(ctx, enctype, &rnd_data, &key);
    if (ret)
        goto cleanup;
    *key_out = key;
    memset(&key, 0, sizeof(key));

cleanup:
    krb5_free_keyblock_contents(ctx, &key);
    ks_zero(rnd, sizeof(rnd));
    return ret;
}
