/*
 * Login with a registration ticket: the AP-REQ a device sends in its
 * AS-REQ (DevregLogin.ap-req, see doc/devreg-protocol.md) and its check
 * on the KDC.
 *
 * The AP-REQ is an ordinary one made with the registration credential
 * (the ticket for devreg/REALM whose session key is the device key); its
 * authenticator's checksum covers the DER KDC-REQ-BODY of the AS-REQ, so
 * it cannot be moved to another request.  No state lives on the KDC
 * except the replay cache, kept by the caller.
 */
#ifndef DEVREG_LOGIN_H
#define DEVREG_LOGIN_H

#include <stdint.h>
#include <krb5/krb5.h>
#include <kdb.h>

/* What a valid login proves. */
struct devreg_login_result {
    krb5_keyblock device_key;       /* the registration ticket's session key */
    krb5_timestamp ticket_endtime;  /* end of the registration */
    krb5_timestamp auth_ctime;      /* authenticator time */
    unsigned char replay_id[32];    /* SHA-256 of the AP-REQ */
    char **indicators;              /* from the ticket's AD-CAMMAC, NULL-terminated */
};

/* Client: make the login AP-REQ for req_body from the registration
 * credential reg_creds; set *device_key_out (the AS reply key). */
krb5_error_code devreg_login_make(krb5_context ctx, krb5_creds *reg_creds,
                                  const krb5_data *req_body,
                                  krb5_data *ap_req_out,
                                  krb5_keyblock *device_key_out);

/* Client: find the registration credential for devreg/REALM of client in
 * the credential cache named ccname. */
krb5_error_code devreg_login_get_creds(krb5_context ctx, const char *ccname,
                                       krb5_const_principal client,
                                       krb5_creds **creds_out);

/* KDC: check ap_req against the keys of devreg_entry (the devreg/REALM KDB
 * entry), the request's client and req_body, at time now with clockskew
 * skew.  On success fill *result (free with devreg_login_result_free).
 * Error codes are the KDC's: KRB5KDC_ERR_CLIENT_NAME_MISMATCH,
 * KRB5KRB_AP_ERR_TKT_EXPIRED, KRB5KRB_AP_ERR_BAD_INTEGRITY,
 * KRB5KRB_AP_ERR_SKEW, KRB5KRB_AP_ERR_MODIFIED (checksum), with a
 * message.  Replay is the caller's check (result->replay_id). */
krb5_error_code devreg_login_verify(krb5_context ctx,
                                    krb5_db_entry *devreg_entry,
                                    krb5_const_principal client,
                                    const krb5_data *req_body,
                                    const krb5_data *ap_req,
                                    krb5_deltat skew,
                                    struct devreg_login_result *result);

void devreg_login_result_free(krb5_context ctx,
                              struct devreg_login_result *result);

#endif
