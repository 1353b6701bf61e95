/* Login with a registration ticket; see devreg_login.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "devreg_login.h"
#include "ks_asn1.h"
#include "ks_config.h"
#include "ks_util.h"

krb5_error_code
devreg_login_get_creds(krb5_context ctx, const char *ccname,
                       krb5_const_principal client, krb5_creds **creds_out)
{
    krb5_ccache cc = NULL;
    krb5_creds mcreds, *creds = NULL;
    krb5_principal server = NULL;
    krb5_error_code ret;

    *creds_out = NULL;
    memset(&mcreds, 0, sizeof(mcreds));
    ret = krb5_cc_resolve(ctx, ccname, &cc);
    if (ret)
        goto cleanup;
    ret = krb5_build_principal_ext(ctx, &server, client->realm.length,
                                   client->realm.data, 6, "devreg",
                                   client->realm.length, client->realm.data,
                                   0);
    if (ret)
        goto cleanup;
    creds = calloc(1, sizeof(*creds));
    if (creds == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    mcreds.client = (krb5_principal)client;
    mcreds.server = server;
    ret = krb5_cc_retrieve_cred(ctx, cc, 0, &mcreds, creds);
    if (ret) {
        krb5_set_error_message(ctx, ret, "devreg: no registration ticket "
                               "for this device in %s (register first)",
                               ccname);
        free(creds);
        creds = NULL;
        goto cleanup;
    }
    /* An expired registration is the KDC's to refuse ("Ticket expired"):
     * its clock is the one that counts. */
    *creds_out = creds;
    creds = NULL;

cleanup:
    if (creds != NULL)
        krb5_free_creds(ctx, creds);
    krb5_free_principal(ctx, server);
    if (cc != NULL)
        krb5_cc_close(ctx, cc);
    return ret;
}

krb5_error_code
devreg_login_make(krb5_context ctx, krb5_creds *reg_creds,
                  const krb5_data *req_body, krb5_data *ap_req_out,
                  krb5_keyblock *device_key_out)
{
    krb5_auth_context ac = NULL;
    krb5_data in = *req_body;
    krb5_error_code ret;

    memset(ap_req_out, 0, sizeof(*ap_req_out));
    memset(device_key_out, 0, sizeof(*device_key_out));
    ret = krb5_auth_con_init(ctx, &ac);
    if (ret)
        return ret;
    /* The authenticator's checksum covers the KDC-REQ-BODY. */
    ret = krb5_mk_req_extended(ctx, &ac, 0, &in, reg_creds, ap_req_out);
    if (ret)
        goto cleanup;
    ret = krb5_copy_keyblock_contents(ctx, &reg_creds->keyblock,
                                      device_key_out);
    if (ret) {
        krb5_free_data_contents(ctx, ap_req_out);
        memset(ap_req_out, 0, sizeof(*ap_req_out));
    }

cleanup:
    krb5_auth_con_free(ctx, ac);
    return ret;
}

/* Make an in-memory keytab holding every key of entry. */
static krb5_error_code
entry_keytab(krb5_context ctx, krb5_db_entry *entry, krb5_keytab *kt_out)
{
    static unsigned long counter;
    krb5_keytab kt = NULL;
    krb5_keytab_entry ke;
    krb5_keyblock kb;
    krb5_error_code ret;
    char name[64];
    int i;

    *kt_out = NULL;
    snprintf(name, sizeof(name), "MEMORY:devreg-%ld-%lu", (long)getpid(),
             ++counter);
    ret = krb5_kt_resolve(ctx, name, &kt);
    if (ret)
        return ret;
    for (i = 0; i < entry->n_key_data; i++) {
        ret = krb5_dbe_decrypt_key_data(ctx, NULL, &entry->key_data[i], &kb,
                                        NULL);
        if (ret)
            goto fail;
        memset(&ke, 0, sizeof(ke));
        ke.principal = entry->princ;
        ke.vno = entry->key_data[i].key_data_kvno;
        ke.key = kb;
        ret = krb5_kt_add_entry(ctx, kt, &ke);
        krb5_free_keyblock_contents(ctx, &kb);
        if (ret)
            goto fail;
    }
    *kt_out = kt;
    return 0;

fail:
    krb5_kt_close(ctx, kt);
    return ret;
}

void
devreg_login_result_free(krb5_context ctx, struct devreg_login_result *result)
{
    size_t i;

    krb5_free_keyblock_contents(ctx, &result->device_key);
    for (i = 0; result->indicators != NULL && result->indicators[i]; i++)
        free(result->indicators[i]);
    free(result->indicators);
    memset(result, 0, sizeof(*result));
}

krb5_error_code
devreg_login_verify(krb5_context ctx, krb5_db_entry *devreg_entry,
                    krb5_const_principal client, const krb5_data *req_body,
                    const krb5_data *ap_req, krb5_deltat skew,
                    struct devreg_login_result *result)
{
    krb5_auth_context ac = NULL;
    krb5_keytab kt = NULL;
    krb5_ticket *ticket = NULL;
    krb5_authenticator *auth = NULL;
    krb5_enc_tkt_part *tkt;
    krb5_boolean valid = FALSE;
    krb5_timestamp now;
    krb5_error_code ret;
    unsigned int mdlen = 0;

    memset(result, 0, sizeof(*result));
    ret = entry_keytab(ctx, devreg_entry, &kt);
    if (ret)
        goto cleanup;
    ret = krb5_auth_con_init(ctx, &ac);
    if (ret)
        goto cleanup;
    /* No replay cache here: the caller's is shared by all KDC workers. */
    ret = krb5_auth_con_setflags(ctx, ac, 0);
    if (ret)
        goto cleanup;
    ret = krb5_rd_req(ctx, &ac, ap_req, devreg_entry->princ, kt, NULL,
                      &ticket);
    if (ret) {
        if (ret == KRB5KRB_AP_ERR_TKT_EXPIRED)
            krb5_set_error_message(ctx, ret, "devreg: the registration "
                                   "ticket has expired");
        else if (ret == KRB5KRB_AP_ERR_BAD_INTEGRITY ||
                 ret == KRB5KRB_AP_ERR_BADKEYVER ||
                 ret == KRB5_KT_NOTFOUND || ret == KRB5_KT_KVNONOTFOUND) {
            ret = KRB5KRB_AP_ERR_BAD_INTEGRITY;
            krb5_set_error_message(ctx, ret, "devreg: the registration "
                                   "ticket does not decrypt with a key of "
                                   "the registration service (tampered, "
                                   "or not issued by this realm)");
        } else if (ret == KRB5KRB_AP_ERR_BADMATCH) {
            krb5_set_error_message(ctx, ret, "devreg: the login "
                                   "authenticator and the registration "
                                   "ticket name different devices");
        } else if (ret == KRB5KRB_AP_ERR_TKT_NYV) {
            krb5_set_error_message(ctx, ret, "devreg: the registration "
                                   "ticket is not valid yet (check the "
                                   "clocks)");
        }
        goto cleanup;
    }
    tkt = ticket->enc_part2;
    if (tkt == NULL || tkt->session == NULL || tkt->client == NULL) {
        ret = KRB5KRB_AP_ERR_BAD_INTEGRITY;
        krb5_set_error_message(ctx, ret, "devreg: the registration ticket "
                               "is incomplete");
        goto cleanup;
    }
    if (!krb5_principal_compare(ctx, tkt->client, client)) {
        char *owner = NULL;

        ret = KRB5KDC_ERR_CLIENT_NAME_MISMATCH;
        if (krb5_unparse_name(ctx, tkt->client, &owner) != 0)
            owner = NULL;
        krb5_set_error_message(ctx, ret, "devreg: the registration ticket "
                               "belongs to %s, not to the client of the "
                               "request", owner ? owner : "another device");
        krb5_free_unparsed_name(ctx, owner);
        goto cleanup;
    }
    ret = krb5_auth_con_getauthenticator(ctx, ac, &auth);
    if (ret)
        goto cleanup;
    ret = krb5_timeofday(ctx, &now);
    if (ret)
        goto cleanup;
    if (labs((long)auth->ctime - (long)now) > skew) {
        ret = KRB5KRB_AP_ERR_SKEW;
        krb5_set_error_message(ctx, ret, "devreg: the login authenticator's "
                               "time is %ld s away from the KDC's (clock "
                               "skew allowed: %ld s)",
                               (long)auth->ctime - (long)now, (long)skew);
        goto cleanup;
    }
    if (auth->checksum == NULL) {
        ret = KRB5KRB_AP_ERR_MODIFIED;
        krb5_set_error_message(ctx, ret, "devreg: the login authenticator "
                               "has no checksum of the request");
        goto cleanup;
    }
    ret = krb5_c_verify_checksum(ctx, tkt->session,
                                 KRB5_KEYUSAGE_AP_REQ_AUTH_CKSUM, req_body,
                                 auth->checksum, &valid);
    if (ret || !valid) {
        ret = KRB5KRB_AP_ERR_MODIFIED;
        krb5_set_error_message(ctx, ret, "devreg: the login authenticator "
                               "does not match this request");
        goto cleanup;
    }
    if (EVP_Digest(ap_req->data, ap_req->length, result->replay_id, &mdlen,
                   EVP_sha256(), NULL) != 1 || mdlen != 32) {
        ret = KRB5_CRYPTO_INTERNAL;
        goto cleanup;
    }
    ret = ks_authdata_indicators(ctx, tkt->authorization_data,
                                 &result->indicators);
    if (ret)
        goto cleanup;
    ret = krb5_copy_keyblock_contents(ctx, tkt->session, &result->device_key);
    if (ret)
        goto cleanup;
    result->ticket_endtime = tkt->times.endtime;
    result->auth_ctime = auth->ctime;

cleanup:
    if (ret)
        devreg_login_result_free(ctx, result);
    krb5_free_authenticator(ctx, auth);
    krb5_free_ticket(ctx, ticket);
    krb5_auth_con_free(ctx, ac);
    if (kt != NULL)
        krb5_kt_close(ctx, kt);
    return ret;
}
