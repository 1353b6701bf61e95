/* Key derivation from the realm secret; the format is in ks_kdf.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/core_names.h>

#include "ks_kdf.h"
#include "ks_util.h"

/* The longest keybytes of any enctype krb5 knows (aes256, camellia256). */
#define KS_MAX_KEYBYTES 64

krb5_error_code
ks_hkdf_sha256(const unsigned char *ikm, size_t ikmlen,
               const unsigned char *salt, size_t saltlen,
               const unsigned char *info, size_t infolen,
               unsigned char *out, size_t outlen)
{
    static EVP_KDF *kdf;
    EVP_KDF_CTX *kctx;
    OSSL_PARAM params[5], *p = params;
    int ok;

    if (kdf == NULL) {
        kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
        if (kdf == NULL)
            return KRB5_CRYPTO_INTERNAL;
    }
    kctx = EVP_KDF_CTX_new(kdf);
    if (kctx == NULL)
        return ENOMEM;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                            (char *)"SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                             (void *)ikm, ikmlen);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                             (void *)salt, saltlen);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                             (void *)info, infolen);
    *p = OSSL_PARAM_construct_end();
    ok = EVP_KDF_derive(kctx, out, outlen, params);
    EVP_KDF_CTX_free(kctx);
    return ok == 1 ? 0 : KRB5_CRYPTO_INTERNAL;
}

krb5_error_code
ks_kdf_info(const char *purpose, const char *name, krb5_enctype enctype,
            krb5_kvno kvno, unsigned char *buf, size_t bufsize,
            size_t *len_out)
{
    size_t plen = strlen(purpose), nlen = strlen(name);
    size_t label = sizeof(KS_KDF_INFO_LABEL);   /* includes the NUL */
    size_t need = label + 1 + plen + 2 + nlen + 4 + 4;
    uint32_t et = (uint32_t)enctype, kv = (uint32_t)kvno;
    unsigned char *q = buf;

    if (plen > 255 || nlen > 65535 || need > bufsize)
        return EINVAL;
    memcpy(q, KS_KDF_INFO_LABEL, label);
    q += label;
    *q++ = (unsigned char)plen;
    memcpy(q, purpose, plen);
    q += plen;
    *q++ = (unsigned char)(nlen >> 8);
    *q++ = (unsigned char)nlen;
    memcpy(q, name, nlen);
    q += nlen;
    *q++ = et >> 24; *q++ = et >> 16; *q++ = et >> 8; *q++ = et;
    *q++ = kv >> 24; *q++ = kv >> 16; *q++ = kv >> 8; *q++ = kv;
    *len_out = q - buf;
    return 0;
}

krb5_error_code
ks_kdf_bytes(const unsigned char *secret, size_t secretlen,
             const char *purpose, const char *name, krb5_enctype enctype,
             krb5_kvno kvno, unsigned char *out, size_t outlen)
{
    unsigned char stackbuf[512], *info = stackbuf;
    size_t infolen, need;
    krb5_error_code ret;

    /* Principal names are rarely long; allocate only for those that are. */
    need = sizeof(KS_KDF_INFO_LABEL) + 1 + strlen(purpose) + 2 +
        strlen(name) + 8;
    if (need > sizeof(stackbuf)) {
        info = malloc(need);
        if (info == NULL)
            return ENOMEM;
    }
    ret = ks_kdf_info(purpose, name, enctype, kvno, info, need, &infolen);
    if (!ret) {
        ret = ks_hkdf_sha256(secret, secretlen,
                             (const unsigned char *)KS_KDF_SALT,
                             strlen(KS_KDF_SALT), info, infolen, out, outlen);
    }
    if (info != stackbuf)
        free(info);
    return ret;
}

/* Derive the key for (purpose, name, enctype, kvno) into *out. */
static krb5_error_code
derive_key(krb5_context ctx, const unsigned char *secret, size_t secretlen,
           const char *purpose, const char *name, krb5_enctype enctype,
           krb5_kvno kvno, krb5_keyblock *out)
{
    krb5_error_code ret;
    size_t keybytes, keylength;
    unsigned char rnd[KS_MAX_KEYBYTES];
    krb5_data rnd_data;

    memset(out, 0, sizeof(*out));
    ret = krb5_c_keylengths(ctx, enctype, &keybytes, &keylength);
    if (ret)
        return ret;
    if (keybytes > sizeof(rnd))
        return KRB5_BAD_ENCTYPE;
    ret = ks_kdf_bytes(secret, secretlen, purpose, name, enctype, kvno, rnd,
                       keybytes);
    if (ret)
        goto cleanup;
    out->magic = KV5M_KEYBLOCK;
    out->enctype = enctype;
    out->length = keylength;
    out->contents = malloc(keylength);
    if (out->contents == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    rnd_data.magic = KV5M_DATA;
    rnd_data.data = (char *)rnd;
    rnd_data.length = keybytes;
    ret = krb5_c_random_to_key(ctx, enctype, &rnd_data, out);
    if (ret) {
        krb5_free_keyblock_contents(ctx, out);
        memset(out, 0, sizeof(*out));
    }

cleanup:
    ks_zero(rnd, sizeof(rnd));
    return ret;
}

krb5_error_code
ks_derive_principal_key(krb5_context ctx, const unsigned char *secret,
                        size_t secretlen, const char *name,
                        krb5_enctype enctype, krb5_kvno kvno,
                        krb5_keyblock *out)
{
    return derive_key(ctx, secret, secretlen, KS_PURPOSE_PRINCIPAL, name,
                      enctype, kvno, out);
}

krb5_error_code
ks_derive_tempkey_store_key(krb5_context ctx, const unsigned char *secret,
                            size_t secretlen, const char *realm,
                            krb5_keyblock *out)
{
    return derive_key(ctx, secret, secretlen, KS_PURPOSE_TEMPKEY_STORE, realm,
                      KS_TEMPKEY_STORE_ENCTYPE, KS_TEMPKEY_STORE_KVNO, out);
}

krb5_error_code
ks_check_value(const unsigned char *secret, size_t secretlen,
               char out[KS_CHECK_VALUE_LEN + 1])
{
    unsigned char cv[KS_CHECK_VALUE_BYTES];
    krb5_error_code ret;

    ret = ks_kdf_bytes(secret, secretlen, KS_PURPOSE_CHECK_VALUE, "", 0, 0,
                       cv, sizeof(cv));
    if (ret)
        return ret;
    ks_hex(cv, sizeof(cv), out);
    return 0;
}
