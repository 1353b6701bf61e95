/* Padata holding a devreg message, for both sides of devreg.so. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devreg_padata.h"

/* Encode msg as a padata element. */
krb5_error_code
devreg_message_padata(const struct ks_devreg_message *msg, krb5_pa_data **pa_out)
{
    krb5_pa_data *pa;
    unsigned char *der = NULL;
    size_t len = 0;
    krb5_error_code ret;

    *pa_out = NULL;
    ret = ks_devreg_message_encode(msg, &der, &len);
    if (ret)
        return ret;
    pa = calloc(1, sizeof(*pa));
    if (pa == NULL) {
        free(der);
        return ENOMEM;
    }
    pa->magic = KV5M_PA_DATA;
    pa->pa_type = KS_PA_DEVREG;
    pa->contents = der;
    pa->length = len;
    *pa_out = pa;
    return 0;
}

/* Each cause, the code that carries it (one of those MIT's KDC passes
 * through: see filter_preauth_error in its kdc_preauth.c), and a name.
 * Not KRB5KRB_AP_ERR_BAD_INTEGRITY, which fits several causes: MIT kinit
 * reports that code as "Password incorrect" and drops the message. */
static const struct {
    int32_t code;
    krb5_error_code wire;
    const char *name;
} causes[] = {
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

krb5_error_code
devreg_wire_code(int32_t code)
{
    size_t i;

    for (i = 0; i < sizeof(causes) / sizeof(*causes); i++) {
        if (causes[i].code == code)
            return causes[i].wire;
    }
    return KRB5KDC_ERR_PREAUTH_FAILED;
}

const char *
devreg_cause_name(int32_t code)
{
    size_t i;

    for (i = 0; i < sizeof(causes) / sizeof(*causes); i++) {
        if (causes[i].code == code)
            return causes[i].name;
    }
    return NULL;
}

/* The longest refusal text sent; longer ones are cut. */
#define DEVREG_ERROR_TEXT_MAX 256

krb5_error_code
devreg_error_edata(int32_t code, const char *text, krb5_pa_data ***edata_out)
{
    struct ks_devreg_message msg;
    krb5_pa_data **list, *pa = NULL;
    char buf[DEVREG_ERROR_TEXT_MAX + 1];
    krb5_error_code ret;

    *edata_out = NULL;
    memset(&msg, 0, sizeof(msg));
    msg.type = KS_DEVREG_MSG_ERROR;
    msg.u.error.code = code;
    if (text != NULL) {
        size_t len;

        snprintf(buf, sizeof(buf), "%s", text);
        len = strlen(buf);
        /* A cut text must not end inside a UTF-8 sequence. */
        if (len == DEVREG_ERROR_TEXT_MAX) {
            while (len > 0 && ((unsigned char)buf[len - 1] & 0xC0) == 0x80)
                len--;
            if (len > 0 && ((unsigned char)buf[len - 1] & 0x80))
                len--;
            buf[len] = '\0';
        }
        msg.u.error.text = buf;
    }
    ret = devreg_message_padata(&msg, &pa);
    if (ret)
        return ret;
    list = calloc(2, sizeof(*list));
    if (list == NULL) {
        free(pa->contents);
        free(pa);
        return ENOMEM;
    }
    list[0] = pa;
    *edata_out = list;
    return 0;
}
