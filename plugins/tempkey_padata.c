/* Padata holding a tempkey message, for both sides of tempkey.so. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tempkey_padata.h"

krb5_error_code
tempkey_message_padata(const struct ks_tempkey_message *msg,
                       krb5_pa_data **pa_out)
{
    krb5_pa_data *pa;
    unsigned char *der = NULL;
    size_t len = 0;
    krb5_error_code ret;

    *pa_out = NULL;
    ret = ks_tempkey_message_encode(msg, &der, &len);
    if (ret)
        return ret;
    pa = calloc(1, sizeof(*pa));
    if (pa == NULL) {
        free(der);
        return ENOMEM;
    }
    pa->magic = KV5M_PA_DATA;
    pa->pa_type = KS_PA_TEMPKEY;
    pa->contents = der;
    pa->length = len;
    *pa_out = pa;
    return 0;
}

krb5_error_code
tempkey_message_padata_list(const struct ks_tempkey_message *msg,
                            krb5_pa_data ***list_out)
{
    krb5_pa_data **list, *pa = NULL;
    krb5_error_code ret;

    *list_out = NULL;
    ret = tempkey_message_padata(msg, &pa);
    if (ret)
        return ret;
    list = calloc(2, sizeof(*list));
    if (list == NULL) {
        free(pa->contents);
        free(pa);
        return ENOMEM;
    }
    list[0] = pa;
    *list_out = list;
    return 0;
}

/* Each cause, the code that carries it (one MIT's KDC passes through:
 * filter_preauth_error in its kdc_preauth.c), and its name.  Never
 * KRB5KRB_AP_ERR_BAD_INTEGRITY: kinit reports it as "Password incorrect"
 * (doc/devreg-protocol.md). */
static const struct {
    int32_t code;
    krb5_error_code wire;
    const char *name;
} causes[] = {
    { KS_TEMPKEY_E_MALFORMED, KRB5KDC_ERR_CLIENT_NOT_TRUSTED, "malformed" },
    { KS_TEMPKEY_E_BAD_SIGNATURE, KRB5KDC_ERR_INVALID_SIG, "bad-signature" },
    { KS_TEMPKEY_E_UNTRUSTED_CERT, KRB5KDC_ERR_CANT_VERIFY_CERTIFICATE,
      "untrusted-certificate" },
    { KS_TEMPKEY_E_CERT_EXPIRED, KRB5KDC_ERR_INVALID_CERTIFICATE,
      "certificate-expired" },
    { KS_TEMPKEY_E_CERT_NOT_YET_VALID, KRB5KDC_ERR_INVALID_CERTIFICATE,
      "certificate-not-yet-valid" },
    { KS_TEMPKEY_E_WRONG_EKU, KRB5KDC_ERR_INCONSISTENT_KEY_PURPOSE,
      "wrong-eku" },
    { KS_TEMPKEY_E_CERT_WRONG_PRINC, KRB5KDC_ERR_CLIENT_NAME_MISMATCH,
      "certificate-names-another-principal" },
    { KS_TEMPKEY_E_ROLLBACK, KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
      "key-id-rollback" },
    { KS_TEMPKEY_E_LIFETIME, KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
      "lifetime-too-long" },
    { KS_TEMPKEY_E_REPLAY, KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
      "replayed-request" },
    { KS_TEMPKEY_E_WRONG_KDC_KEY, KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
      "sealed-to-another-kdc-key" },
    { KS_TEMPKEY_E_FRESHNESS_MISSING, KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
      "missing-freshness-token" },
    { KS_TEMPKEY_E_FRESHNESS_STALE, KRB5KRB_AP_ERR_SKEW,
      "stale-freshness-token" },
    { KS_TEMPKEY_E_FRESHNESS_INVALID, KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
      "invalid-freshness-token" },
    { KS_TEMPKEY_E_BAD_BINDING, KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
      "request-binding" },
    { KS_TEMPKEY_E_PRINC_MISMATCH, KRB5KDC_ERR_CLIENT_NAME_MISMATCH,
      "request-for-another-principal" },
    { KS_TEMPKEY_E_BAD_KEY, KRB5KDC_ERR_CLIENT_NOT_TRUSTED, "bad-key" },
    { KS_TEMPKEY_E_NOT_CONFIGURED, KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
      "not-configured" },
    { KS_TEMPKEY_E_UNSUPPORTED_DB, KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
      "unsupported-database" },
    { KS_TEMPKEY_E_STORE, KRB5KDC_ERR_CLIENT_NOT_TRUSTED, "store-failure" },
};

krb5_error_code
tempkey_wire_code(int32_t code)
{
    size_t i;

    for (i = 0; i < sizeof(causes) / sizeof(*causes); i++) {
        if (causes[i].code == code)
            return causes[i].wire;
    }
    return KRB5KDC_ERR_PREAUTH_FAILED;
}

const char *
tempkey_cause_name(int32_t code)
{
    size_t i;

    for (i = 0; i < sizeof(causes) / sizeof(*causes); i++) {
        if (causes[i].code == code)
            return causes[i].name;
    }
    return NULL;
}

#define TEMPKEY_ERROR_TEXT_MAX 256

krb5_error_code
tempkey_error_edata(int32_t code, const char *text, krb5_pa_data ***edata_out)
{
    struct ks_tempkey_message msg;
    char buf[TEMPKEY_ERROR_TEXT_MAX + 1];

    memset(&msg, 0, sizeof(msg));
    msg.type = KS_TEMPKEY_MSG_ERROR;
    msg.u.error.code = code;
    if (text != NULL) {
        size_t len;

        snprintf(buf, sizeof(buf), "%s", text);
        len = strlen(buf);
        /* A cut text must not end inside a UTF-8 sequence. */
        if (len == TEMPKEY_ERROR_TEXT_MAX) {
            while (len > 0 && ((unsigned char)buf[len - 1] & 0xC0) == 0x80)
                len--;
            if (len > 0 && ((unsigned char)buf[len - 1] & 0x80))
                len--;
            buf[len] = '\0';
        }
        msg.u.error.text = buf;
    }
    return tempkey_message_padata_list(&msg, edata_out);
}
