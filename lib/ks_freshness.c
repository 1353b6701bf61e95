/* Freshness token framing; see ks_freshness.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kdb.h>

#include "ks_asn1.h"
#include "ks_freshness.h"
#include "ks_iana.h"
#include "ks_util.h"

krb5_error_code
ks_freshness_token_parse(const unsigned char *p, size_t len,
                         struct ks_freshness_token *out)
{
    struct ks_cursor c;
    uint32_t kvno, enctype;

    memset(out, 0, sizeof(*out));
    ks_cursor_init(&c, p, len);
    if (!ks_cursor_u32(&c, &kvno) || !ks_cursor_u32(&c, &enctype))
        return EINVAL;
    out->ciphertext_len = ks_cursor_left(&c);
    out->ciphertext = ks_cursor_bytes(&c, out->ciphertext_len);
    if (kvno == 0 || out->ciphertext == NULL || out->ciphertext_len == 0 ||
        out->ciphertext_len > KS_FRESHNESS_MAX_CIPHERTEXT) {
        memset(out, 0, sizeof(*out));
        return EINVAL;
    }
    out->kvno = kvno;
    out->enctype = (krb5_enctype)(int32_t)enctype;
    return 0;
}

krb5_error_code
ks_freshness_token_build(krb5_kvno kvno, krb5_enctype enctype,
                         const unsigned char *ciphertext,
                         size_t ciphertext_len, krb5_data *out)
{
    unsigned char *buf;
    uint32_t e = (uint32_t)enctype;

    memset(out, 0, sizeof(*out));
    if (kvno == 0 || ciphertext_len == 0 ||
        ciphertext_len > KS_FRESHNESS_MAX_CIPHERTEXT)
        return EINVAL;
    buf = malloc(KS_FRESHNESS_HEADER_LEN + ciphertext_len);
    if (buf == NULL)
        return ENOMEM;
    buf[0] = kvno >> 24;
    buf[1] = kvno >> 16;
    buf[2] = kvno >> 8;
    buf[3] = kvno;
    buf[4] = e >> 24;
    buf[5] = e >> 16;
    buf[6] = e >> 8;
    buf[7] = e;
    memcpy(buf + KS_FRESHNESS_HEADER_LEN, ciphertext, ciphertext_len);
    out->magic = KV5M_DATA;
    out->data = (char *)buf;
    out->length = KS_FRESHNESS_HEADER_LEN + ciphertext_len;
    return 0;
}

/* Find and decrypt the krbtgt/REALM key of kvno (0: the current one). */
static krb5_error_code
krbtgt_key(krb5_context ctx, krb5_const_principal krbtgt, krb5_kvno kvno,
           krb5_enctype enctype, krb5_keyblock *key_out, krb5_kvno *kvno_out)
{
    krb5_db_entry *ent = NULL;
    krb5_key_data *kd = NULL;
    krb5_error_code ret;

    ret = krb5_db_get_principal(ctx, krbtgt, 0, &ent);
    if (ret)
        return ret;
    ret = krb5_dbe_find_enctype(ctx, ent, enctype, -1, kvno, &kd);
    if (!ret)
        ret = krb5_dbe_decrypt_key_data(ctx, NULL, kd, key_out, NULL);
    if (!ret && kvno_out != NULL)
        *kvno_out = kd->key_data_kvno;
    krb5_db_free_principal(ctx, ent);
    return ret;
}

krb5_error_code
ks_freshness_make(krb5_context ctx, krb5_const_principal krbtgt,
                  krb5_const_principal client, krb5_data *token_out)
{
    struct ks_freshness_plain fp;
    krb5_keyblock key;
    krb5_enc_data enc;
    krb5_data plain;
    unsigned char *der = NULL;
    size_t derlen = 0, enclen;
    krb5_kvno kvno = 0;
    krb5_timestamp now;
    char *name = NULL;
    krb5_error_code ret;

    memset(token_out, 0, sizeof(*token_out));
    memset(&key, 0, sizeof(key));
    memset(&enc, 0, sizeof(enc));
    ret = krb5_timeofday(ctx, &now);
    if (ret)
        return ret;
    ret = krb5_unparse_name(ctx, client, &name);
    if (ret)
        return ret;
    fp.kdc_time = now;
    fp.client = name;
    ret = ks_freshness_plain_encode(&fp, &der, &derlen);
    if (ret)
        goto cleanup;
    ret = krbtgt_key(ctx, krbtgt, 0, -1, &key, &kvno);
    if (ret)
        goto cleanup;
    ret = krb5_c_encrypt_length(ctx, key.enctype, derlen, &enclen);
    if (ret)
        goto cleanup;
    enc.ciphertext.length = enclen;
    enc.ciphertext.data = malloc(enclen);
    if (enc.ciphertext.data == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    plain.magic = KV5M_DATA;
    plain.data = (char *)der;
    plain.length = derlen;
    ret = krb5_c_encrypt(ctx, &key, KS_KEYUSAGE_FRESHNESS, NULL, &plain,
                         &enc);
    if (ret)
        goto cleanup;
    ret = ks_freshness_token_build(kvno, key.enctype,
                                   (unsigned char *)enc.ciphertext.data,
                                   enc.ciphertext.length, token_out);
    if (ret)
        goto cleanup;

cleanup:
    free(enc.ciphertext.data);
    free(der);
    krb5_free_keyblock_contents(ctx, &key);
    krb5_free_unparsed_name(ctx, name);
    return ret;
}

krb5_error_code
ks_freshness_check(krb5_context ctx, krb5_const_principal krbtgt,
                   krb5_deltat clockskew, krb5_const_principal client,
                   const krb5_data *token, krb5_timestamp *time_out)
{
    struct ks_freshness_plain *fp = NULL;
    struct ks_freshness_token tok;
    krb5_keyblock key;
    krb5_enc_data enc;
    krb5_data plain;
    krb5_timestamp now;
    krb5_kvno kvno;
    krb5_enctype enctype;
    char *name = NULL;
    krb5_error_code ret;

    memset(&key, 0, sizeof(key));
    memset(&plain, 0, sizeof(plain));
    if (ks_freshness_token_parse((const unsigned char *)token->data,
                                 token->length, &tok) != 0)
        return KRB5KDC_ERR_PREAUTH_FAILED;
    kvno = tok.kvno;
    enctype = tok.enctype;
    ret = krbtgt_key(ctx, krbtgt, kvno, enctype, &key, NULL);
    if (ret) {
        ret = KRB5KDC_ERR_PREAUTH_EXPIRED;
        goto cleanup;
    }
    memset(&enc, 0, sizeof(enc));
    enc.enctype = enctype;
    enc.kvno = kvno;
    enc.ciphertext.data = (char *)tok.ciphertext;
    enc.ciphertext.length = tok.ciphertext_len;
    plain.length = enc.ciphertext.length;
    plain.data = malloc(plain.length);
    if (plain.data == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    ret = krb5_c_decrypt(ctx, &key, KS_KEYUSAGE_FRESHNESS, NULL, &enc,
                         &plain);
    if (ret) {
        ret = KRB5KDC_ERR_PREAUTH_FAILED;
        goto cleanup;
    }
    ret = ks_freshness_plain_decode((unsigned char *)plain.data, plain.length,
                                    &fp);
    if (ret) {
        ret = KRB5KDC_ERR_PREAUTH_FAILED;
        goto cleanup;
    }
    ret = krb5_unparse_name(ctx, client, &name);
    if (ret)
        goto cleanup;
    if (strcmp(name, fp->client) != 0) {
        ret = KRB5KDC_ERR_PREAUTH_FAILED;
        goto cleanup;
    }
    ret = krb5_timeofday(ctx, &now);
    if (ret)
        goto cleanup;
    if (labs((long)fp->kdc_time - (long)now) > clockskew)
        ret = KRB5KDC_ERR_PREAUTH_EXPIRED;
    else if (time_out != NULL)
        *time_out = (krb5_timestamp)fp->kdc_time;

cleanup:
    if (plain.data != NULL)
        ks_zfree(plain.data, plain.length);
    krb5_free_keyblock_contents(ctx, &key);
    krb5_free_unparsed_name(ctx, name);
    ks_freshness_plain_free(fp);
    return ret;
}
