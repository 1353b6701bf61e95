/*
 * devreg, client side (clpreauth): the kinit -X attributes devreg_identity,
 * devreg_anonymous, devreg_anchor and devreg_ticket, and the messages of
 * doc/devreg-protocol.md that a device sends.
 *
 * State: the attributes given for the current request (module data, as
 * kinit makes one request per context).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <krb5/krb5.h>
#include <krb5/clpreauth_plugin.h>

#include "devreg_login.h"
#include "devreg_padata.h"
#include "devreg_register.h"
#include "ks_asn1.h"
#include "ks_iana.h"
#include "ks_preauth.h"

static krb5_preauthtype devreg_pa_types[] = { KS_PA_DEVREG, 0 };

struct devreg_client {
    char *identity;             /* devreg_identity */
    char *anchor;               /* devreg_anchor */
    char *ticket_ccache;        /* devreg_ticket */
    krb5_boolean anonymous;     /* devreg_anonymous */
    struct devreg_client_reg *pending;  /* registration awaiting a reply */
    struct devreg_client_cache cache;   /* identity, anchors loaded */
};

static krb5_error_code
cl_init(krb5_context ctx, krb5_clpreauth_moddata *moddata_out)
{
    struct devreg_client *dc;

    dc = calloc(1, sizeof(*dc));
    if (dc == NULL)
        return ENOMEM;
    *moddata_out = (krb5_clpreauth_moddata)dc;
    return 0;
}

static void
cl_fini(krb5_context ctx, krb5_clpreauth_moddata moddata)
{
    struct devreg_client *dc = (struct devreg_client *)moddata;

    free(dc->identity);
    free(dc->anchor);
    free(dc->ticket_ccache);
    devreg_client_reg_free(dc->pending);
    devreg_client_cache_free(&dc->cache);
    free(dc);
}

/* Per-request state (module request data): the KDC's reason for a
 * refusal, set again when the request ends (see ks_preauth.h: libkrb5 1.20
 * clears it after a failed tryagain).  NULL if request_init could not
 * allocate it; the ks_preauth_* functions accept that. */
static struct ks_preauth_refusal *
refusal_of(krb5_clpreauth_modreq modreq)
{
    return (struct ks_preauth_refusal *)modreq;
}

static void
cl_request_init(krb5_context ctx, krb5_clpreauth_moddata moddata,
                krb5_clpreauth_modreq *modreq_out)
{
    *modreq_out = (krb5_clpreauth_modreq)calloc(
        1, sizeof(struct ks_preauth_refusal));
}

static void
cl_request_fini(krb5_context ctx, krb5_clpreauth_moddata moddata,
                krb5_clpreauth_modreq modreq)
{
    ks_preauth_refusal_fini(ctx, refusal_of(modreq));
    free(modreq);
}

static int
cl_flags(krb5_context ctx, krb5_preauthtype pa_type)
{
    return PA_REAL;
}

/* Take our kinit -X attributes; ignore everybody else's. */
static krb5_error_code
cl_gic_opts(krb5_context ctx, krb5_clpreauth_moddata moddata,
            krb5_get_init_creds_opt *opt, const char *attr,
            const char *value)
{
    struct devreg_client *dc = (struct devreg_client *)moddata;

    if (strcmp(attr, "devreg_identity") == 0)
        return ks_preauth_set_string(&dc->identity, value);
    if (strcmp(attr, "devreg_anchor") == 0)
        return ks_preauth_set_string(&dc->anchor, value);
    if (strcmp(attr, "devreg_ticket") == 0)
        return ks_preauth_set_string(&dc->ticket_ccache, value);
    if (strcmp(attr, "devreg_anonymous") == 0) {
        dc->anonymous = strcmp(value, "yes") == 0 ||
            strcmp(value, "true") == 0 || strcmp(value, "1") == 0;
        return 0;
    }
    return 0;
}

/* Log in with the registration credential in dc->ticket_ccache. */
static krb5_error_code
process_login(krb5_context ctx, struct devreg_client *dc,
              krb5_clpreauth_callbacks cb, krb5_clpreauth_rock rock,
              krb5_kdc_req *request, krb5_data *encoded_request_body,
              krb5_pa_data ***pa_out)
{
    struct ks_devreg_message msg;
    krb5_creds *creds = NULL;
    krb5_keyblock key;
    krb5_error_code ret;

    memset(&msg, 0, sizeof(msg));
    memset(&key, 0, sizeof(key));
    ret = devreg_login_get_creds(ctx, dc->ticket_ccache, request->client,
                                 &creds);
    if (ret)
        return ret;
    msg.type = KS_DEVREG_MSG_LOGIN;
    ret = devreg_login_make(ctx, creds, encoded_request_body,
                            &msg.u.login.ap_req, &key);
    if (ret)
        goto cleanup;
    ret = cb->set_as_key(ctx, rock, &key);
    if (ret)
        goto cleanup;
    ret = devreg_message_padata_list(&msg, pa_out);
    if (!ret && cb->vers >= 3)
        cb->disable_fallback(ctx, rock);

cleanup:
    krb5_free_data_contents(ctx, &msg.u.login.ap_req);
    krb5_free_keyblock_contents(ctx, &key);
    krb5_free_creds(ctx, creds);
    return ret;
}

/* Answer the KDC's challenge with a registration request. */
static krb5_error_code
process_register(krb5_context ctx, struct devreg_client *dc,
                 krb5_clpreauth_modreq modreq, krb5_clpreauth_callbacks cb,
                 krb5_clpreauth_rock rock,
                 const struct ks_devreg_challenge *ch,
                 krb5_data *encoded_request_body, krb5_pa_data ***pa_out)
{
    struct ks_devreg_message msg;
    struct devreg_client_reg *cr = NULL;
    krb5_error_code ret;

    /* Without an anchor the reply could not be verified: don't ask. */
    if (dc->anchor == NULL) {
        krb5_set_error_message(ctx, KRB5_PREAUTH_FAILED, "devreg: give the "
                               "registration service's trust anchor with -X "
                               "devreg_anchor=FILE:ca.pem");
        return KRB5_PREAUTH_FAILED;
    }
    ret = devreg_register_make(ctx, dc->anonymous ? NULL : dc->identity,
                               &dc->cache, ch,
                               encoded_request_body, &msg, &cr);
    if (ret)
        return ret;
    ret = devreg_message_padata_list(&msg, pa_out);
    free(msg.u.reg.auth_pack.data);
    if (ret) {
        devreg_client_reg_free(cr);
        return ret;
    }
    /* Keep the ephemeral key for the reply. */
    devreg_client_reg_free(dc->pending);
    dc->pending = cr;
    if (cb->vers >= 3)
        cb->disable_fallback(ctx, rock);
    return 0;
}

/* Check the KDC's registration reply and set the reply key. */
static krb5_error_code
process_reply(krb5_context ctx, struct devreg_client *dc,
              struct devreg_client_reg *unused, krb5_clpreauth_callbacks cb,
              krb5_clpreauth_rock rock, krb5_kdc_req *request,
              krb5_data *encoded_request_body, krb5_pa_data *pa,
              const struct ks_devreg_reply *reply)
{
    krb5_keyblock key;
    krb5_data reply_der;
    krb5_error_code ret;

    if (dc->pending == NULL)
        return KRB5_PREAUTH_FAILED;
    reply_der.magic = KV5M_DATA;
    reply_der.data = (char *)pa->contents;
    reply_der.length = pa->length;
    ret = devreg_register_finish(ctx, dc->pending, dc->anchor, &dc->cache,
                                 reply,
                                 &reply_der, request->client,
                                 request->server, cb->get_etype(ctx, rock),
                                 encoded_request_body, &key);
    devreg_client_reg_free(dc->pending);
    dc->pending = NULL;
    if (ret)
        return ret;
    ret = cb->set_as_key(ctx, rock, &key);
    krb5_free_keyblock_contents(ctx, &key);
    return ret;
}

static krb5_error_code
cl_process(krb5_context ctx, krb5_clpreauth_moddata moddata,
           krb5_clpreauth_modreq modreq, krb5_get_init_creds_opt *opt,
           krb5_clpreauth_callbacks cb, krb5_clpreauth_rock rock,
           krb5_kdc_req *request, krb5_data *encoded_request_body,
           krb5_data *encoded_previous_request, krb5_pa_data *pa_data,
           krb5_prompter_fct prompter, void *prompter_data,
           krb5_pa_data ***pa_data_out)
{
    struct devreg_client *dc = (struct devreg_client *)moddata;
    struct ks_devreg_message *msg = NULL;
    krb5_error_code ret;

    *pa_data_out = NULL;
    if (pa_data->length > 0) {
        ret = ks_devreg_message_decode(pa_data->contents, pa_data->length,
                                       &msg);
        if (ret) {
            krb5_set_error_message(ctx, ret, "devreg: the KDC sent a "
                                   "malformed devreg message");
            return ret;
        }
    }
    if (msg != NULL && msg->type == KS_DEVREG_MSG_REPLY) {
        ret = process_reply(ctx, dc, NULL, cb, rock, request,
                            encoded_request_body, pa_data, &msg->u.reply);
        ks_devreg_message_free(msg);
        /* Refused: see ks_preauth_refuse_reply for what the caller then
         * sees. */
        if (ret)
            ks_preauth_refuse_reply(ctx, refusal_of(modreq), ret);
        return ret;
    }
    if (msg != NULL && msg->type != KS_DEVREG_MSG_CHALLENGE) {
        ks_devreg_message_free(msg);
        return KRB5_PREAUTH_FAILED;
    }

    if (dc->ticket_ccache != NULL) {
        ks_devreg_message_free(msg);
        return process_login(ctx, dc, cb, rock, request, encoded_request_body,
                             pa_data_out);
    }
    if ((dc->identity != NULL || dc->anonymous) && msg != NULL) {
        ret = process_register(ctx, dc, modreq, cb, rock,
                               &msg->u.challenge, encoded_request_body,
                               pa_data_out);
        ks_devreg_message_free(msg);
        return ret;
    }
    ks_devreg_message_free(msg);
    /* Not asked to use devreg. */
    return KRB5_PREAUTH_FAILED;
}

/*
 * The KDC refused our request: if it said why (a DevregError in the
 * error's e-data, see devreg_padata.h), make that the message of the
 * error kinit reports.  There is nothing to try again with.
 */
static krb5_error_code
cl_tryagain(krb5_context ctx, krb5_clpreauth_moddata moddata,
            krb5_clpreauth_modreq modreq, krb5_get_init_creds_opt *opt,
            krb5_clpreauth_callbacks cb, krb5_clpreauth_rock rock,
            krb5_kdc_req *request, krb5_data *encoded_request_body,
            krb5_data *encoded_previous_request, krb5_preauthtype pa_type,
            krb5_error *error, krb5_pa_data **error_padata,
            krb5_prompter_fct prompter, void *prompter_data,
            krb5_pa_data ***pa_data_out)
{
    struct devreg_client *dc = (struct devreg_client *)moddata;

    *pa_data_out = NULL;
    devreg_client_reg_free(dc->pending);
    dc->pending = NULL;
    return ks_preauth_tryagain(ctx, &devreg_causes, refusal_of(modreq), error,
                               error_padata);
}

krb5_error_code
clpreauth_devreg_initvt(krb5_context ctx, int maj_ver, int min_ver,
                        krb5_plugin_vtable vtable);

krb5_error_code
clpreauth_devreg_initvt(krb5_context ctx, int maj_ver, int min_ver,
                        krb5_plugin_vtable vtable)
{
    krb5_clpreauth_vtable vt;

    if (maj_ver != 1)
        return KRB5_PLUGIN_VER_NOTSUPP;
    vt = (krb5_clpreauth_vtable)vtable;
    vt->name = "devreg";
    vt->pa_type_list = devreg_pa_types;
    vt->init = cl_init;
    vt->fini = cl_fini;
    vt->flags = cl_flags;
    vt->gic_opts = cl_gic_opts;
    vt->process = cl_process;
    vt->tryagain = cl_tryagain;
    vt->request_init = cl_request_init;
    vt->request_fini = cl_request_fini;
    return 0;
}
