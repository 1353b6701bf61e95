/*
 * tempkey, client side (clpreauth): a server registers a temporary key
 * (doc/tempkey-protocol.md).  kinit -X attributes (and ktempkey's gic
 * options):
 *
 *   tempkey_identity=FILE:cert.pem,key.pem   the server's certificate
 *   tempkey_anchor=FILE:ca.pem               anchor of the KDC certificate
 *   tempkey_keytab=KEYTAB                    where the keys live
 *   tempkey_lifetime=DURATION                default: the KDC's maximum
 *   tempkey_key_id=N                         register key N of the keytab
 *                                            again (another KDC) instead
 *                                            of generating a new one
 *
 * A new key (one per enctype the KDC offers) goes into the keytab before
 * the request is sent, so that the server can accept tickets in it as
 * soon as the KDC issues them; it is taken out again if the KDC refuses.
 * The KDC's reply is encrypted in the new key and its TempkeyReply carries
 * a checksum in it: the key is recorded in the state file
 * (tempkey_state.h) only when that checksum verifies.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <krb5/krb5.h>
#include <krb5/clpreauth_plugin.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ks_cms.h"
#include "ks_config.h"
#include "ks_iana.h"
#include "ks_preauth.h"
#include "ks_tempkey_asn1.h"
#include "ks_util.h"
#include "tempkey_keytab.h"
#include "tempkey_padata.h"
#include "tempkey_state.h"

static krb5_preauthtype tempkey_pa_types[] = { KS_PA_TEMPKEY, 0 };

struct tk_client {
    char *identity;
    char *anchor;
    char *keytab;
    krb5_deltat lifetime;       /* 0: the KDC's maximum */
    uint32_t reuse_id;          /* 0: generate a new key */
};

/* Per request: the registration in flight, and the KDC's reason for a
 * refusal (set again in request_fini: libkrb5 1.20 clears the message
 * after a failed tryagain, see ks_preauth.h). */
struct tk_req {
    krb5_principal client;
    uint32_t key_id;
    time_t expiry;
    unsigned char req_body_hash[KS_SHA256_LEN];
    krb5_keyblock *keys;
    size_t nkeys;
    krb5_boolean generated;     /* we added the keys to the keytab */
    krb5_boolean pending;       /* a request was sent */
    krb5_boolean accepted;
    struct ks_preauth_refusal refusal;
};

static krb5_error_code
cl_init(krb5_context ctx, krb5_clpreauth_moddata *moddata_out)
{
    struct tk_client *tc = calloc(1, sizeof(*tc));

    if (tc == NULL)
        return ENOMEM;
    *moddata_out = (krb5_clpreauth_moddata)tc;
    return 0;
}

static void
cl_fini(krb5_context ctx, krb5_clpreauth_moddata moddata)
{
    struct tk_client *tc = (struct tk_client *)moddata;

    free(tc->identity);
    free(tc->anchor);
    free(tc->keytab);
    free(tc);
}

static void
cl_request_init(krb5_context ctx, krb5_clpreauth_moddata moddata,
                krb5_clpreauth_modreq *modreq_out)
{
    *modreq_out = (krb5_clpreauth_modreq)calloc(1, sizeof(struct tk_req));
}

/* Forget the registration in flight; take a generated key that the KDC
 * did not accept out of the keytab again. */
static void
req_reset(krb5_context ctx, struct tk_client *tc, struct tk_req *req)
{
    if (req->generated && !req->accepted && tc->keytab != NULL &&
        req->client != NULL) {
        if (tk_keytab_update(ctx, tc->keytab, req->client, NULL, 0, 0,
                             &req->key_id, 1) != 0)
            krb5_clear_error_message(ctx);
    }
    tk_keys_free(req->keys, req->nkeys);
    req->keys = NULL;
    req->nkeys = 0;
    krb5_free_principal(ctx, req->client);
    req->client = NULL;
    req->generated = req->pending = req->accepted = FALSE;
}

static void
cl_request_fini(krb5_context ctx, krb5_clpreauth_moddata moddata,
                krb5_clpreauth_modreq modreq)
{
    struct tk_req *req = (struct tk_req *)modreq;

    if (req == NULL)
        return;
    req_reset(ctx, (struct tk_client *)moddata, req);
    ks_preauth_refusal_fini(ctx, &req->refusal);
    free(req);
}

/* The refusal state of req, or NULL if request_init failed. */
static struct ks_preauth_refusal *
refusal_of(struct tk_req *req)
{
    return (req != NULL) ? &req->refusal : NULL;
}

static int
cl_flags(krb5_context ctx, krb5_preauthtype pa_type)
{
    return PA_REAL;
}

static krb5_error_code
cl_gic_opts(krb5_context ctx, krb5_clpreauth_moddata moddata,
            krb5_get_init_creds_opt *opt, const char *attr,
            const char *value)
{
    struct tk_client *tc = (struct tk_client *)moddata;
    krb5_error_code ret;
    char *end;
    unsigned long n;

    if (strcmp(attr, "tempkey_identity") == 0)
        return ks_preauth_set_string(&tc->identity, value);
    if (strcmp(attr, "tempkey_anchor") == 0)
        return ks_preauth_set_string(&tc->anchor, value);
    if (strcmp(attr, "tempkey_keytab") == 0)
        return ks_preauth_set_string(&tc->keytab, value);
    if (strcmp(attr, "tempkey_lifetime") == 0) {
        ret = ks_parse_duration(value, &tc->lifetime);
        if (ret)
            krb5_set_error_message(ctx, ret, "tempkey: tempkey_lifetime=%s "
                                   "is not a duration", value);
        return ret;
    }
    if (strcmp(attr, "tempkey_key_id") == 0) {
        errno = 0;
        n = strtoul(value, &end, 10);
        if (errno || *end != '\0' || n < KS_TEMPKEY_ID_MIN ||
            n > KS_TEMPKEY_ID_MAX) {
            krb5_set_error_message(ctx, EINVAL, "tempkey: tempkey_key_id=%s "
                                   "is not a key id (1-65535)", value);
            return EINVAL;
        }
        tc->reuse_id = (uint32_t)n;
        return 0;
    }
    return 0;
}

/* Check the KDC certificate from the challenge: it chains to our anchor,
 * carries id-pkinit-KPKdc and names krbtgt/REALM@REALM. */
static krb5_error_code
check_kdc_cert(krb5_context ctx, const char *anchor, X509 *cert,
               krb5_const_principal client)
{
    struct ks_cms_trust trust;
    X509_STORE *store = NULL;
    krb5_principal san = NULL, tgs = NULL;
    krb5_error_code ret;
    int32_t code = 0;

    ret = ks_anchors_load(ctx, anchor, &store);
    if (ret)
        return ret;
    memset(&trust, 0, sizeof(trust));
    trust.anchors = store;
    trust.eku_oid = KS_OID_PKINIT_KPKDC;
    ret = ks_cms_cert_verify(ctx, cert, NULL, &trust, &code);
    if (ret) {
        const char *why = krb5_get_error_message(ctx, ret);

        krb5_set_error_message(ctx, ret, "tempkey: the KDC's certificate "
                               "does not verify against tempkey_anchor %s: "
                               "%s", anchor, why);
        krb5_free_error_message(ctx, why);
        goto cleanup;
    }
    ret = krb5_build_principal_ext(ctx, &tgs, client->realm.length,
                                   client->realm.data, KRB5_TGS_NAME_SIZE,
                                   KRB5_TGS_NAME, client->realm.length,
                                   client->realm.data, 0);
    if (ret)
        goto cleanup;
    if (ks_cms_cert_pkinit_principal(ctx, cert, &san) != 0 ||
        !krb5_principal_compare(ctx, san, tgs)) {
        ret = KRB5KDC_ERR_KDC_NAME_MISMATCH;
        krb5_set_error_message(ctx, ret, "tempkey: the KDC's certificate "
                               "does not name krbtgt/%.*s (id-pkinit-san)",
                               (int)client->realm.length,
                               client->realm.data);
    }

cleanup:
    krb5_free_principal(ctx, san);
    krb5_free_principal(ctx, tgs);
    X509_STORE_free(store);
    return ret;
}

/* The keys to register into req: key tc->reuse_id from the keytab (its
 * expiry from the state file), or new ones written to the keytab. */
static krb5_error_code
prepare_keys(krb5_context ctx, struct tk_client *tc, struct tk_req *req,
             const struct ks_tempkey_challenge *ch)
{
    struct tk_state_entry *st = NULL;
    size_t nst = 0, i, n;
    krb5_timestamp now;
    char *name = NULL;
    krb5_error_code ret;

    if (tc->reuse_id != 0) {
        req->key_id = tc->reuse_id;
        ret = tk_keytab_get_keys(ctx, tc->keytab, req->client, req->key_id,
                                 &req->keys, &req->nkeys);
        if (ret)
            return ret;
        ret = krb5_unparse_name(ctx, req->client, &name);
        if (!ret)
            ret = tk_state_load(ctx, tc->keytab, &st, &nst);
        if (ret)
            goto cleanup;
        for (i = 0; i < nst; i++) {
            if (strcmp(st[i].principal, name) == 0 &&
                st[i].key_id == req->key_id)
                req->expiry = st[i].expiry;
        }
        if (req->expiry == 0) {
            ret = ENOENT;
            krb5_set_error_message(ctx, ret, "tempkey: key id %u of %s is "
                                   "not in the state file of %s: register "
                                   "it first", (unsigned)req->key_id, name,
                                   tc->keytab);
        }
        goto cleanup;
    }

    if (ch->nenctypes == 0) {
        ret = KRB5_PREAUTH_FAILED;
        krb5_set_error_message(ctx, ret, "tempkey: the KDC offers no "
                               "enctypes for temporary keys");
        return ret;
    }
    ret = krb5_timeofday(ctx, &now);
    if (ret)
        return ret;
    req->expiry = (time_t)now + (tc->lifetime > 0 ? tc->lifetime :
                                 ch->max_life);
    ret = tk_keytab_next_id(ctx, tc->keytab, req->client, &req->key_id);
    if (ret)
        return ret;
    req->keys = calloc(ch->nenctypes, sizeof(*req->keys));
    if (req->keys == NULL)
        return ENOMEM;
    for (i = 0, n = 0; i < ch->nenctypes; i++) {
        if (!krb5_c_valid_enctype(ch->enctypes[i]))
            continue;
        ret = krb5_c_make_random_key(ctx, ch->enctypes[i], &req->keys[n]);
        if (ret)
            return ret;
        req->nkeys = ++n;
    }
    if (req->nkeys == 0) {
        ret = KRB5_PREAUTH_FAILED;
        krb5_set_error_message(ctx, ret, "tempkey: none of the KDC's "
                               "enctypes is supported here");
        return ret;
    }
    ret = tk_keytab_update(ctx, tc->keytab, req->client, req->keys,
                           req->nkeys, req->key_id, NULL, 0);
    if (!ret)
        req->generated = TRUE;

cleanup:
    tk_state_free(st, nst);
    krb5_free_unparsed_name(ctx, name);
    return ret;
}

/* Answer the KDC's challenge with a registration request. */
static krb5_error_code
process_challenge(krb5_context ctx, struct tk_client *tc, struct tk_req *req,
                  krb5_clpreauth_callbacks cb, krb5_clpreauth_rock rock,
                  krb5_kdc_req *request, krb5_data *encoded_request_body,
                  const struct ks_tempkey_challenge *ch,
                  krb5_pa_data ***pa_out)
{
    struct ks_tempkey_request_body body;
    struct ks_tempkey_message msg;
    struct ks_tempkey_keys kk;
    struct ks_tempkey_key *kl = NULL;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL, *kdc_cert = NULL;
    STACK_OF(X509) *chain = NULL;
    const unsigned char *p;
    unsigned char *plain = NULL, *sealed = NULL, *der = NULL;
    unsigned char *signed_req = NULL;
    size_t plainlen = 0, sealedlen = 0, derlen = 0, signedlen = 0, i;
    char *name = NULL;
    krb5_error_code ret;

    if (req == NULL)
        return ENOMEM;
    if (tc->anchor == NULL || tc->keytab == NULL) {
        ret = KRB5_PREAUTH_FAILED;
        krb5_set_error_message(ctx, ret, "tempkey: give %s",
                               tc->anchor == NULL ?
                               "the KDC's trust anchor with -X "
                               "tempkey_anchor=FILE:ca.pem" :
                               "the keytab with -X tempkey_keytab=KEYTAB");
        return ret;
    }
    if (ch->kdc_cert.length == 0) {
        ret = KRB5_PREAUTH_FAILED;
        krb5_set_error_message(ctx, ret, "tempkey: the KDC sent no "
                               "certificate to seal the key to");
        return ret;
    }
    p = (const unsigned char *)ch->kdc_cert.data;
    kdc_cert = d2i_X509(NULL, &p, ch->kdc_cert.length);
    if (kdc_cert == NULL ||
        p != (const unsigned char *)ch->kdc_cert.data + ch->kdc_cert.length) {
        ret = KRB5_PREAUTH_FAILED;
        krb5_set_error_message(ctx, ret, "tempkey: the KDC's certificate "
                               "does not parse");
        goto cleanup;
    }
    ret = check_kdc_cert(ctx, tc->anchor, kdc_cert, request->client);
    if (ret)
        goto cleanup;
    ret = ks_identity_load(ctx, tc->identity, &key, &cert, &chain);
    if (ret)
        goto cleanup;

    req_reset(ctx, tc, req);
    ret = krb5_copy_principal(ctx, request->client, &req->client);
    if (ret)
        goto cleanup;
    ret = prepare_keys(ctx, tc, req, ch);
    if (ret)
        goto cleanup;

    /* Seal the keys to the KDC. */
    kl = calloc(req->nkeys, sizeof(*kl));
    if (kl == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    for (i = 0; i < req->nkeys; i++) {
        kl[i].enctype = req->keys[i].enctype;
        kl[i].key.magic = KV5M_DATA;
        kl[i].key.data = (char *)req->keys[i].contents;
        kl[i].key.length = req->keys[i].length;
    }
    kk.n = req->nkeys;
    kk.keys = kl;
    ret = ks_tempkey_keys_encode(&kk, &plain, &plainlen);
    if (ret)
        goto cleanup;
    ret = ks_cms_seal(ctx, kdc_cert, KS_OID_TEMPKEY_KEYS, plain, plainlen,
                      &sealed, &sealedlen);
    if (ret)
        goto cleanup;

    /* Sign the request. */
    ret = krb5_unparse_name(ctx, request->client, &name);
    if (ret)
        goto cleanup;
    if (EVP_Digest(encoded_request_body->data, encoded_request_body->length,
                   req->req_body_hash, NULL, EVP_sha256(), NULL) != 1) {
        ret = KRB5_CRYPTO_INTERNAL;
        goto cleanup;
    }
    memset(&body, 0, sizeof(body));
    body.version = KS_TEMPKEY_VERSION;
    body.principal = name;
    body.freshness_token = ch->freshness_token;
    memcpy(body.req_body_hash, req->req_body_hash, KS_SHA256_LEN);
    body.key_id = req->key_id;
    body.expiry = req->expiry;
    body.sealed_keys.magic = KV5M_DATA;
    body.sealed_keys.data = (char *)sealed;
    body.sealed_keys.length = sealedlen;
    ret = ks_tempkey_request_body_encode(&body, &der, &derlen);
    if (ret)
        goto cleanup;
    ret = ks_cms_sign(ctx, key, cert, chain, KS_OID_TEMPKEY_REQUEST, der,
                      derlen, &signed_req, &signedlen);
    if (ret)
        goto cleanup;
    memset(&msg, 0, sizeof(msg));
    msg.type = KS_TEMPKEY_MSG_REQUEST;
    msg.u.request.signed_request.magic = KV5M_DATA;
    msg.u.request.signed_request.data = (char *)signed_req;
    msg.u.request.signed_request.length = signedlen;
    ret = tempkey_message_padata_list(&msg, pa_out);
    if (ret)
        goto cleanup;
    req->pending = TRUE;
    if (cb->vers >= 3)
        cb->disable_fallback(ctx, rock);

cleanup:
    if (plain != NULL)
        ks_zfree(plain, plainlen);
    free(kl);
    free(sealed);
    free(der);
    free(signed_req);
    krb5_free_unparsed_name(ctx, name);
    EVP_PKEY_free(key);
    X509_free(cert);
    X509_free(kdc_cert);
    if (chain != NULL)
        sk_X509_pop_free(chain, X509_free);
    return ret;
}

/* Check the KDC's TempkeyReply, set the reply key, record the key. */
static krb5_error_code
process_reply(krb5_context ctx, struct tk_client *tc, struct tk_req *req,
              krb5_clpreauth_callbacks cb, krb5_clpreauth_rock rock,
              const struct ks_tempkey_reply *reply)
{
    struct ks_tempkey_reply_body rb;
    struct tk_state_entry st;
    const krb5_keyblock *key = NULL;
    krb5_enctype etype = cb->get_etype(ctx, rock);
    krb5_checksum cksum;
    krb5_boolean valid = FALSE;
    krb5_data data;
    krb5_timestamp now;
    unsigned char *der = NULL;
    size_t derlen = 0, i;
    char *name = NULL;
    krb5_error_code ret;

    if (req == NULL || !req->pending) {
        krb5_set_error_message(ctx, KRB5_PREAUTH_FAILED, "tempkey: a reply "
                               "to no registration of ours");
        return KRB5_PREAUTH_FAILED;
    }
    for (i = 0; i < req->nkeys; i++) {
        if (req->keys[i].enctype == etype)
            key = &req->keys[i];
    }
    if (key == NULL || reply->key_id != req->key_id) {
        krb5_set_error_message(ctx, KRB5_PREAUTH_FAILED, "tempkey: the KDC "
                               "answered in a key we did not register");
        return KRB5_PREAUTH_FAILED;
    }
    memset(&rb, 0, sizeof(rb));
    rb.key_id = reply->key_id;
    rb.expiry = reply->expiry;
    rb.renew_by = reply->renew_by;
    memcpy(rb.req_body_hash, req->req_body_hash, KS_SHA256_LEN);
    ret = ks_tempkey_reply_body_encode(&rb, &der, &derlen);
    if (ret)
        return ret;
    data.magic = KV5M_DATA;
    data.data = (char *)der;
    data.length = derlen;
    memset(&cksum, 0, sizeof(cksum));
    cksum.magic = KV5M_CHECKSUM;
    cksum.checksum_type = reply->cksumtype;
    cksum.contents = (krb5_octet *)reply->checksum.data;
    cksum.length = reply->checksum.length;
    ret = krb5_c_verify_checksum(ctx, key, KS_KEYUSAGE_TEMPKEY_REPLY, &data,
                                 &cksum, &valid);
    free(der);
    if (ret == 0 && !valid)
        ret = KRB5KRB_AP_ERR_MODIFIED;
    if (ret) {
        krb5_set_error_message(ctx, ret, "tempkey: the KDC's reply does not "
                               "verify in the new key");
        return ret;
    }
    /* The KDC knows the key: it accepted it. */
    req->accepted = TRUE;
    ret = cb->set_as_key(ctx, rock, key);
    if (ret)
        return ret;
    ret = krb5_timeofday(ctx, &now);
    if (ret)
        return ret;
    ret = krb5_unparse_name(ctx, req->client, &name);
    if (ret)
        return ret;
    st.principal = name;
    st.key_id = req->key_id;
    st.registered = now;
    st.expiry = reply->expiry;
    st.renew_by = reply->renew_by;
    ret = tk_state_record(ctx, tc->keytab, &st);
    krb5_free_unparsed_name(ctx, name);
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
    struct tk_client *tc = (struct tk_client *)moddata;
    struct tk_req *req = (struct tk_req *)modreq;
    struct ks_tempkey_message *msg = NULL;
    krb5_error_code ret;

    *pa_data_out = NULL;
    /* Not asked to register a key: let other mechanisms run. */
    if (tc->identity == NULL)
        return KRB5_PREAUTH_FAILED;
    if (pa_data->length == 0) {
        /* Optimistic (or a bare hint): ask the KDC for its challenge with
         * an empty tempkey padata; it answers
         * KDC_ERR_MORE_PREAUTH_DATA_REQUIRED with the challenge. */
        krb5_pa_data *empty = NULL;

        ret = ks_preauth_padata_new(KS_PA_TEMPKEY, NULL, 0, &empty);
        if (!ret)
            ret = ks_preauth_padata_list(empty, pa_data_out);
        if (ret)
            return ret;
        if (cb->vers >= 3)
            cb->disable_fallback(ctx, rock);
        return 0;
    }
    if (ks_tempkey_message_decode(pa_data->contents, pa_data->length,
                                  &msg) != 0) {
        krb5_set_error_message(ctx, KRB5_PREAUTH_FAILED, "tempkey: the KDC "
                               "sent a malformed tempkey message");
        return KRB5_PREAUTH_FAILED;
    }
    switch (msg->type) {
    case KS_TEMPKEY_MSG_CHALLENGE:
        ret = process_challenge(ctx, tc, req, cb, rock, request,
                                encoded_request_body, &msg->u.challenge,
                                pa_data_out);
        break;
    case KS_TEMPKEY_MSG_REPLY:
        ret = process_reply(ctx, tc, req, cb, rock, &msg->u.reply);
        /* Refused: see ks_preauth_refuse_reply for what the caller then
         * sees. */
        if (ret)
            ks_preauth_refuse_reply(ctx, refusal_of(req), ret);
        break;
    default:
        ret = KRB5_PREAUTH_FAILED;
        krb5_set_error_message(ctx, ret, "tempkey: unexpected tempkey "
                               "message from the KDC");
        break;
    }
    ks_tempkey_message_free(msg);
    return ret;
}

/* The KDC refused: turn its TempkeyError into our message. */
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
    struct tk_req *req = (struct tk_req *)modreq;

    *pa_data_out = NULL;
    if (req != NULL)
        req_reset(ctx, (struct tk_client *)moddata, req);
    return ks_preauth_tryagain(ctx, &tempkey_causes, refusal_of(req), error,
                               error_padata);
}

krb5_error_code
clpreauth_tempkey_initvt(krb5_context ctx, int maj_ver, int min_ver,
                         krb5_plugin_vtable vtable);

krb5_error_code
clpreauth_tempkey_initvt(krb5_context ctx, int maj_ver, int min_ver,
                         krb5_plugin_vtable vtable)
{
    krb5_clpreauth_vtable vt;

    if (maj_ver != 1)
        return KRB5_PLUGIN_VER_NOTSUPP;
    vt = (krb5_clpreauth_vtable)vtable;
    vt->name = "tempkey";
    vt->pa_type_list = tempkey_pa_types;
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
