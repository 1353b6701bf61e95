/*
 * devreg, KDC side (kdcpreauth): registration of devices and login with a
 * registration ticket; the exchange is in doc/devreg-protocol.md.
 *
 * State: none per device.  Per realm, the configuration (device
 * namespace, registration lifetime, state_dir) and a handle on the shared
 * store (ks_store.h), opened on first use in each worker process, whose
 * replay table makes a login request usable once across every worker and
 * restart.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <krb5/krb5.h>
#include <krb5/kdcpreauth_plugin.h>
#include <kdb.h>

#include "devreg_login.h"
#include "devreg_padata.h"
#include "devreg_realm.h"
#include "devreg_register.h"
#include "ks_asn1.h"
#include "ks_iana.h"
#include "ks_preauth.h"
#include "ks_store.h"

static krb5_preauthtype devreg_pa_types[] = { KS_PA_DEVREG, 0 };

static krb5_error_code
kdc_init(krb5_context ctx, krb5_kdcpreauth_moddata *moddata_out,
         const char **realmnames)
{
    struct devreg_realms *realms = NULL;
    krb5_error_code ret;

    ret = devreg_realms_load(ctx, realmnames, &realms);
    if (ret)
        return ret;
    *moddata_out = (krb5_kdcpreauth_moddata)realms;
    return 0;
}

static void
kdc_fini(krb5_context ctx, krb5_kdcpreauth_moddata moddata)
{
    devreg_realms_free(ctx, (struct devreg_realms *)moddata);
}

static int
kdc_flags(krb5_context ctx, krb5_preauthtype pa_type)
{
    return PA_SUFFICIENT | PA_REPLACES_KEY;
}

/* Offer devreg (with a freshness token) to device clients only. */
static void
kdc_edata(krb5_context ctx, krb5_kdc_req *request,
          krb5_kdcpreauth_callbacks cb, krb5_kdcpreauth_rock rock,
          krb5_kdcpreauth_moddata moddata, krb5_preauthtype pa_type,
          krb5_kdcpreauth_edata_respond_fn respond, void *arg)
{
    struct devreg_realms *realms = (struct devreg_realms *)moddata;
    const struct devreg_realm *dr;
    struct ks_devreg_message msg;
    krb5_principal client = cb->client_name(ctx, rock);
    krb5_pa_data *pa = NULL;
    krb5_error_code ret;

    dr = devreg_realm_find(realms, client);
    if (dr == NULL || !devreg_is_device(dr, client)) {
        (*respond)(arg, ENOENT, NULL);
        return;
    }
    memset(&msg, 0, sizeof(msg));
    msg.type = KS_DEVREG_MSG_CHALLENGE;
    ret = devreg_freshness_make(ctx, dr, client,
                                &msg.u.challenge.freshness_token);
    if (!ret) {
        msg.u.challenge.groups = (int32_t *)devreg_groups;
        msg.u.challenge.ngroups = devreg_ngroups;
        msg.u.challenge.anonymous_ok = dr->allow_anonymous;
        ret = devreg_message_padata(&msg, &pa);
    }
    krb5_free_data_contents(ctx, &msg.u.challenge.freshness_token);
    (*respond)(arg, ret, pa);
}

/* Check a login request; on success fill the reply key and indicators. */
/* The devreg cause of a login refused with code (from devreg_login_verify
 * or the replay check). */
static int32_t
login_cause(krb5_error_code code)
{
    switch (code) {
    case KRB5KRB_AP_ERR_TKT_EXPIRED:
        return KS_DEVREG_E_TICKET_EXPIRED;
    case KRB5KRB_AP_ERR_BAD_INTEGRITY:
        return KS_DEVREG_E_TICKET_INVALID;
    case KRB5KDC_ERR_CLIENT_NAME_MISMATCH:
    case KRB5KRB_AP_ERR_BADMATCH:       /* authenticator of another client */
        return KS_DEVREG_E_TICKET_WRONG_CLIENT;
    case KRB5KRB_AP_ERR_SKEW:
    case KRB5KRB_AP_ERR_TKT_NYV:
        return KS_DEVREG_E_CLOCK_SKEW;
    case KRB5KRB_AP_ERR_MODIFIED:
        return KS_DEVREG_E_BAD_BINDING;
    case KRB5KRB_AP_ERR_REPEAT:
        return KS_DEVREG_E_REPLAY;
    case KRB5KRB_AP_ERR_BADVERSION:
    case KRB5KRB_AP_ERR_MSG_TYPE:
    case KRB5KRB_AP_ERR_NOT_US:
    case KRB5KRB_AP_WRONG_PRINC:
    case KRB5_BADMSGTYPE:
    case ASN1_BAD_ID:
    case ASN1_MISSING_FIELD:
    case ASN1_BAD_LENGTH:
    case ASN1_BAD_FORMAT:
    case ASN1_OVERRUN:
    case ASN1_PARSE_ERROR:
    case ASN1_BAD_TIMEFORMAT:
    case ASN1_MISPLACED_FIELD:
    case ASN1_BAD_GMTIME:
        return KS_DEVREG_E_MALFORMED;
    default:
        return 0;
    }
}

static krb5_error_code
verify_login(krb5_context ctx, struct devreg_realm *dr, krb5_kdc_req *request,
             krb5_enc_tkt_part *enc_tkt_reply,
             const struct ks_devreg_login *login,
             krb5_kdcpreauth_callbacks cb, krb5_kdcpreauth_rock rock,
             int32_t *devreg_code_out)
{
    struct devreg_login_result res;
    krb5_db_entry *devreg_entry = NULL;
    krb5_principal client = cb->client_name(ctx, rock);
    krb5_data *req_body = cb->request_body(ctx, rock);
    struct ks_store *store = NULL;
    krb5_timestamp now;
    krb5_error_code ret;
    size_t i;

    memset(&res, 0, sizeof(res));
    ret = krb5_db_get_principal(ctx, dr->devreg_princ, 0, &devreg_entry);
    if (ret) {
        krb5_set_error_message(ctx, ret, "devreg: %s is not in the "
                               "database", dr->devreg_name);
        goto cleanup;
    }
    ret = devreg_login_verify(ctx, devreg_entry, client, req_body,
                              &login->ap_req, dr->clockskew, &res);
    if (ret) {
        *devreg_code_out = login_cause(ret);
        goto cleanup;
    }
    ret = krb5_timeofday(ctx, &now);
    if (ret)
        goto cleanup;
    ret = devreg_realm_store(ctx, dr, &store);
    if (ret)
        goto cleanup;
    /* The authenticator is acceptable for clockskew around its time. */
    ret = ks_store_replay_check_and_insert(ctx, store, res.replay_id,
                                           (time_t)res.auth_ctime +
                                           dr->clockskew + 1, now);
    if (ret) {
        if (ret == KRB5KRB_AP_ERR_REPEAT) {
            *devreg_code_out = KS_DEVREG_E_REPLAY;
            krb5_set_error_message(ctx, ret, "devreg: replayed login "
                                   "request");
        }
        goto cleanup;
    }
    for (i = 0; res.indicators != NULL && res.indicators[i] != NULL; i++) {
        ret = cb->add_auth_indicator(ctx, rock, res.indicators[i]);
        if (ret)
            goto cleanup;
    }
    if (devreg_is_provisioned(ctx, dr, store, client)) {
        ret = cb->add_auth_indicator(ctx, rock, KS_INDICATOR_PROVISIONED);
        if (ret)
            goto cleanup;
    }
    /* Renewal: a new registration ticket (and device key) for as long as
     * a registration lasts. */
    if (krb5_principal_compare(ctx, request->server, dr->devreg_princ))
        devreg_set_registration_times(dr, request, enc_tkt_reply);
    ret = cb->replace_reply_key(ctx, rock, &res.device_key, FALSE);
    if (ret)
        goto cleanup;
    enc_tkt_reply->flags |= TKT_FLG_PRE_AUTH;

cleanup:
    devreg_login_result_free(ctx, &res);
    krb5_db_free_principal(ctx, devreg_entry);
    return ret;
}

static void
kdc_verify(krb5_context ctx, krb5_data *req_pkt, krb5_kdc_req *request,
           krb5_enc_tkt_part *enc_tkt_reply, krb5_pa_data *pa,
           krb5_kdcpreauth_callbacks cb, krb5_kdcpreauth_rock rock,
           krb5_kdcpreauth_moddata moddata,
           krb5_kdcpreauth_verify_respond_fn respond, void *arg)
{
    struct devreg_realms *realms = (struct devreg_realms *)moddata;
    struct devreg_realm *dr;
    struct ks_devreg_message *msg = NULL;
    krb5_principal client = cb->client_name(ctx, rock);
    krb5_pa_data *reply = NULL, **e_data = NULL;
    int32_t devreg_code = 0;
    krb5_error_code ret;

    dr = devreg_realm_find(realms, client);
    if (dr == NULL) {
        ret = KRB5_PREAUTH_FAILED;
        goto done;
    }
    ret = ks_devreg_message_decode(pa->contents, pa->length, &msg);
    if (ret) {
        ret = KRB5KDC_ERR_PREAUTH_FAILED;
        devreg_code = KS_DEVREG_E_MALFORMED;
        krb5_set_error_message(ctx, ret, "devreg: malformed devreg padata");
        goto done;
    }
    switch (msg->type) {
    case KS_DEVREG_MSG_LOGIN:
        ret = verify_login(ctx, dr, request, enc_tkt_reply, &msg->u.login,
                           cb, rock, &devreg_code);
        break;
    case KS_DEVREG_MSG_REGISTER:
        ret = devreg_register_verify(ctx, dr, request, enc_tkt_reply,
                                     &msg->u.reg, cb, rock, &reply,
                                     &devreg_code);
        break;
    default:
        ret = KRB5KDC_ERR_PREAUTH_FAILED;
        devreg_code = KS_DEVREG_E_MALFORMED;
        krb5_set_error_message(ctx, ret, "devreg: unexpected message type "
                               "from a client");
        break;
    }

done:
    ks_devreg_message_free(msg);
    /* A refusal with a cause goes out with a code the KDC passes through
     * and a DevregError e-data.  The reply padata of a registration
     * travels to return_padata as the request's module data. */
    ks_preauth_verify_respond(ctx, &devreg_causes, ret, devreg_code, reply,
                              e_data, respond, arg);
}

krb5_error_code
kdcpreauth_devreg_initvt(krb5_context ctx, int maj_ver, int min_ver,
                         krb5_plugin_vtable vtable);

krb5_error_code
kdcpreauth_devreg_initvt(krb5_context ctx, int maj_ver, int min_ver,
                         krb5_plugin_vtable vtable)
{
    krb5_kdcpreauth_vtable vt;

    if (maj_ver != 1)
        return KRB5_PLUGIN_VER_NOTSUPP;
    vt = (krb5_kdcpreauth_vtable)vtable;
    vt->name = "devreg";
    vt->pa_type_list = devreg_pa_types;
    vt->init = kdc_init;
    vt->fini = kdc_fini;
    vt->flags = kdc_flags;
    vt->edata = kdc_edata;
    vt->verify = kdc_verify;
    /* The request data is the reply padata (see kdc_verify). */
    vt->return_padata = ks_preauth_return_padata;
    vt->free_modreq = ks_preauth_free_modreq;
    return 0;
}
