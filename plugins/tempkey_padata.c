/* Padata holding a tempkey message, for both sides of tempkey.so. */
#include "config.h"

#include <string.h>

#include "tempkey_padata.h"

krb5_error_code
tempkey_message_padata(const struct ks_tempkey_message *msg,
                       krb5_pa_data **pa_out)
{
    unsigned char *der = NULL;
    size_t len = 0;
    krb5_error_code ret;

    *pa_out = NULL;
    ret = ks_tempkey_message_encode(msg, &der, &len);
    if (ret)
        return ret;
    return ks_preauth_padata_new(KS_PA_TEMPKEY, der, len, pa_out);
}

krb5_error_code
tempkey_message_padata_list(const struct ks_tempkey_message *msg,
                            krb5_pa_data ***list_out)
{
    krb5_pa_data *pa = NULL;
    krb5_error_code ret;

    *list_out = NULL;
    ret = tempkey_message_padata(msg, &pa);
    if (ret)
        return ret;
    return ks_preauth_padata_list(pa, list_out);
}

/* Each cause, the code that carries it (one MIT's KDC passes through:
 * filter_preauth_error in its kdc_preauth.c), and its name.  Never
 * KRB5KRB_AP_ERR_BAD_INTEGRITY: kinit reports it as "Password incorrect"
 * (doc/devreg-protocol.md). */
static const struct ks_preauth_cause causes[] = {
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

/* The e-data list of a refusal: one padata element holding a TempkeyError
 * with code and text (cut). */
static krb5_error_code
tempkey_error_edata(int32_t code, const char *text, krb5_pa_data ***edata_out)
{
    struct ks_tempkey_message msg;
    char buf[KS_PREAUTH_TEXT_MAX + 1];

    *edata_out = NULL;
    memset(&msg, 0, sizeof(msg));
    msg.type = KS_TEMPKEY_MSG_ERROR;
    msg.u.error.code = code;
    if (text != NULL) {
        ks_preauth_cut_text(text, buf);
        msg.u.error.text = buf;
    }
    return tempkey_message_padata_list(&msg, edata_out);
}

/* The cause and text of the TempkeyError in pa. */
static krb5_error_code
error_decode(const krb5_pa_data *pa, int32_t *cause_out, char **text_out)
{
    struct ks_tempkey_message *msg = NULL;
    krb5_error_code ret;

    ret = ks_tempkey_message_decode(pa->contents, pa->length, &msg);
    if (ret)
        return ret;
    if (msg->type != KS_TEMPKEY_MSG_ERROR) {
        ks_tempkey_message_free(msg);
        return KRB5_PREAUTH_FAILED;
    }
    *cause_out = msg->u.error.code;
    *text_out = msg->u.error.text;
    msg->u.error.text = NULL;
    ks_tempkey_message_free(msg);
    return 0;
}

const struct ks_preauth_causes tempkey_causes = {
    "tempkey", KS_PA_TEMPKEY, causes, sizeof(causes) / sizeof(*causes),
    tempkey_error_edata, error_decode
};
