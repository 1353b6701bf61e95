/* Padata holding a devreg message, for both sides of devreg.so. */
#include "config.h"

#include <string.h>

#include "devreg_padata.h"

/* Encode msg as a padata element. */
krb5_error_code
devreg_message_padata(const struct ks_devreg_message *msg, krb5_pa_data **pa_out)
{
    unsigned char *der = NULL;
    size_t len = 0;
    krb5_error_code ret;

    *pa_out = NULL;
    ret = ks_devreg_message_encode(msg, &der, &len);
    if (ret)
        return ret;
    return ks_preauth_padata_new(KS_PA_DEVREG, der, len, pa_out);
}

krb5_error_code
devreg_message_padata_list(const struct ks_devreg_message *msg,
                           krb5_pa_data ***list_out)
{
    krb5_pa_data *pa = NULL;
    krb5_error_code ret;

    *list_out = NULL;
    ret = devreg_message_padata(msg, &pa);
    if (ret)
        return ret;
    return ks_preauth_padata_list(pa, list_out);
}

/* Each cause, the code that carries it (one of those MIT's KDC passes
 * through: see filter_preauth_error in its kdc_preauth.c), and a name.
 * Not KRB5KRB_AP_ERR_BAD_INTEGRITY, which fits several causes: MIT kinit
 * reports that code as "Password incorrect" and drops the message. */
static const struct ks_preauth_cause causes[] = {
    { KS_DEVREG_E_MALFORMED, KRB5KDC_ERR_PREAUTH_FAILED, "malformed" },
    { KS_DEVREG_E_BAD_SIGNATURE, KRB5KDC_ERR_INVALID_SIG, "bad-signature" },
    { KS_DEVREG_E_UNKNOWN_DEVICE, KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
      "unknown-device" },
    { KS_DEVREG_E_UNTRUSTED_CERT, KRB5KDC_ERR_CANT_VERIFY_CERTIFICATE,
      "untrusted-certificate" },
    { KS_DEVREG_E_CERT_EXPIRED, KRB5KDC_ERR_INVALID_CERTIFICATE,
      "certificate-expired" },
    { KS_DEVREG_E_CERT_NOT_YET_VALID, KRB5KDC_ERR_INVALID_CERTIFICATE,
      "certificate-not-yet-valid" },
    { KS_DEVREG_E_WRONG_EKU, KRB5KDC_ERR_INCONSISTENT_KEY_PURPOSE,
      "wrong-eku" },
    { KS_DEVREG_E_CERT_WRONG_DEVICE, KRB5KDC_ERR_CLIENT_NAME_MISMATCH,
      "certificate-names-another-device" },
    { KS_DEVREG_E_ANONYMOUS_DISABLED, KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
      "anonymous-disabled" },
    { KS_DEVREG_E_ANONYMOUS_STAGED, KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
      "anonymous-for-staged-device" },
    { KS_DEVREG_E_FRESHNESS_MISSING, KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
      "missing-freshness-token" },
    { KS_DEVREG_E_FRESHNESS_STALE, KRB5KRB_AP_ERR_SKEW,
      "stale-freshness-token" },
    { KS_DEVREG_E_FRESHNESS_INVALID, KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
      "invalid-freshness-token" },
    { KS_DEVREG_E_BAD_BINDING, KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
      "request-binding" },
    { KS_DEVREG_E_UNSUPPORTED_GROUP, KRB5KDC_ERR_DH_KEY_PARAMETERS_NOT_ACCEPTED,
      "unsupported-group" },
    { KS_DEVREG_E_TICKET_INVALID, KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
      "registration-ticket-invalid" },
    { KS_DEVREG_E_TICKET_EXPIRED, KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
      "registration-ticket-expired" },
    { KS_DEVREG_E_TICKET_WRONG_CLIENT, KRB5KDC_ERR_CLIENT_NAME_MISMATCH,
      "registration-ticket-of-another-device" },
    { KS_DEVREG_E_REPLAY, KRB5KDC_ERR_CLIENT_NOT_TRUSTED, "replay" },
    { KS_DEVREG_E_CLOCK_SKEW, KRB5KRB_AP_ERR_SKEW, "clock-skew" },
};

/* The e-data list of a refusal: one padata element holding a DevregError
 * with code and text (cut). */
static krb5_error_code
devreg_error_edata(int32_t code, const char *text, krb5_pa_data ***edata_out)
{
    struct ks_devreg_message msg;
    char buf[KS_PREAUTH_TEXT_MAX + 1];

    *edata_out = NULL;
    memset(&msg, 0, sizeof(msg));
    msg.type = KS_DEVREG_MSG_ERROR;
    msg.u.error.code = code;
    if (text != NULL) {
        ks_preauth_cut_text(text, buf);
        msg.u.error.text = buf;
    }
    return devreg_message_padata_list(&msg, edata_out);
}

/* The cause and text of the DevregError in pa. */
static krb5_error_code
error_decode(const krb5_pa_data *pa, int32_t *cause_out, char **text_out)
{
    struct ks_devreg_message *msg = NULL;
    krb5_error_code ret;

    ret = ks_devreg_message_decode(pa->contents, pa->length, &msg);
    if (ret)
        return ret;
    if (msg->type != KS_DEVREG_MSG_ERROR) {
        ks_devreg_message_free(msg);
        return KRB5_PREAUTH_FAILED;
    }
    *cause_out = msg->u.error.code;
    *text_out = msg->u.error.text;
    msg->u.error.text = NULL;
    ks_devreg_message_free(msg);
    return 0;
}

const struct ks_preauth_causes devreg_causes = {
    "devreg", KS_PA_DEVREG, causes, sizeof(causes) / sizeof(*causes),
    devreg_error_edata, error_decode
};
