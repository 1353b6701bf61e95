/* Registration, both sides; see devreg_register.h and
 * doc/devreg-protocol.md. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>

#include "devreg_padata.h"
#include "devreg_register.h"
#include "ks_cms.h"
#include "ks_config.h"
#include "ks_iana.h"
#include "ks_names.h"
#include "ks_pkinit_kdf.h"
#include "ks_store.h"
#include "ks_util.h"

/* SHA-256 of len bytes at p into out. */
static krb5_error_code
sha256(const void *p, size_t len, unsigned char out[KS_SHA256_LEN])
{
    unsigned int n = 0;

    if (EVP_Digest(p, len, out, &n, EVP_sha256(), NULL) != 1 ||
        n != KS_SHA256_LEN)
        return KRB5_CRYPTO_INTERNAL;
    return 0;
}

/* Nonzero if this version can agree keys in group. */
static int
group_supported(int32_t group)
{
    return group == KS_DEVREG_GROUP_X25519 || group == KS_DEVREG_GROUP_P256;
}

/* The reply enctype: the client's first supported choice. */
static krb5_enctype
reply_enctype(const krb5_kdc_req *request)
{
    int i;

    for (i = 0; i < request->nktypes; i++) {
        if (krb5_c_valid_enctype(request->ktype[i]) &&
            (request->ktype[i] == ENCTYPE_AES256_CTS_HMAC_SHA1_96 ||
             request->ktype[i] == ENCTYPE_AES128_CTS_HMAC_SHA1_96 ||
             request->ktype[i] == ENCTYPE_AES256_CTS_HMAC_SHA384_192 ||
             request->ktype[i] == ENCTYPE_AES128_CTS_HMAC_SHA256_128))
            return request->ktype[i];
    }
    return 0;
}

/* Refuse with code, devreg cause and a message. */
#define REFUSE(c, dc, ...) do {                                 \
        ret = (c);                                              \
        *devreg_code_out = (dc);                                \
        krb5_set_error_message(ctx, ret, __VA_ARGS__);          \
        goto cleanup;                                           \
    } while (0)

krb5_error_code
devreg_register_verify(krb5_context ctx, struct devreg_realm *dr,
                       krb5_kdc_req *request, krb5_enc_tkt_part *enc_tkt_reply,
                       const struct ks_devreg_register *reg,
                       krb5_kdcpreauth_callbacks cb,
                       krb5_kdcpreauth_rock rock, krb5_pa_data **reply_out,
                       int32_t *devreg_code_out)
{
    krb5_principal client = cb->client_name(ctx, rock), certname = NULL;
    krb5_data *req_body = cb->request_body(ctx, rock), reply_data;
    struct ks_store *store = NULL;
    struct ks_stage_entry stage;
    struct ks_cms_trust trust;
    struct ks_devreg_auth_pack *ap = NULL;
    struct ks_devreg_dh_info dh;
    struct ks_devreg_message rmsg;
    struct ks_ecdh_key *ecdh = NULL;
    unsigned char *content = NULL, *dh_der = NULL, *reply_der = NULL;
    unsigned char *kdc_pub = NULL, hash[KS_SHA256_LEN];
    unsigned char z[KS_ECDH_SECRET_LEN];
    size_t content_len = 0, dh_len = 0, reply_len = 0, pub_len = 0;
    X509 *signer = NULL;
    krb5_keyblock key;
    krb5_enctype enctype;
    krb5_pa_data *pa = NULL;
    const char *indicator;
    char id[KS_DEVICE_ID_MAX + 1];
    int staged = 0;
    krb5_error_code ret;

    *reply_out = NULL;
    *devreg_code_out = 0;
    memset(&stage, 0, sizeof(stage));
    memset(&trust, 0, sizeof(trust));
    memset(&dh, 0, sizeof(dh));
    memset(&rmsg, 0, sizeof(rmsg));
    memset(&key, 0, sizeof(key));

    if (dr->kdc_key == NULL)
        REFUSE(KRB5KDC_ERR_PREAUTH_FAILED, KS_DEVREG_E_MALFORMED,
               "devreg: registration is not configured for %s (set "
               "devreg_identity)", dr->realm);
    if (!krb5_principal_compare(ctx, request->server, dr->devreg_princ))
        REFUSE(KRB5KDC_ERR_PREAUTH_FAILED, KS_DEVREG_E_MALFORMED,
               "devreg: a registration must ask for %s", dr->devreg_name);
    if (!devreg_is_device(dr, client))
        REFUSE(KRB5KDC_ERR_PREAUTH_FAILED, KS_DEVREG_E_UNKNOWN_DEVICE,
               "devreg: only device principals register");
    memcpy(id, client->data[1].data, client->data[1].length);
    id[client->data[1].length] = '\0';

    ret = devreg_realm_store(ctx, dr, &store);
    if (ret)
        goto cleanup;
    ret = ks_store_stage_get(ctx, store, id, &stage);
    if (ret == 0)
        staged = 1;
    else if (ret != KRB5_KDB_NOENTRY)
        goto cleanup;
    ret = 0;

    if (reg->mode == KS_DEVREG_MODE_STAGED) {
        if (staged) {
            trust.pinned_spki = stage.spki;
            trust.pinned_spki_len = stage.spki_len;
        } else if (dr->mfr_anchors != NULL) {
            trust.anchors = dr->mfr_anchors;
            trust.eku_oid = KS_OID_PKINIT_KPCLIENTAUTH;
        } else {
            REFUSE(KRB5KDC_ERR_CLIENT_NOT_TRUSTED, KS_DEVREG_E_UNKNOWN_DEVICE,
                   "devreg: device %s is not staged", id);
        }
        ret = ks_cms_verify(ctx, (unsigned char *)reg->auth_pack.data,
                            reg->auth_pack.length, KS_OID_DEVREG_AUTHPACK,
                            &trust, &content, &content_len, &signer,
                            devreg_code_out);
        if (ret)
            goto cleanup;
        if (!staged) {
            ret = ks_cms_cert_pkinit_principal(ctx, signer, &certname);
            if (ret || !krb5_principal_compare(ctx, certname, client))
                REFUSE(KRB5KDC_ERR_CLIENT_NAME_MISMATCH,
                       KS_DEVREG_E_CERT_WRONG_DEVICE, "devreg: the device "
                       "certificate does not name %s", id);
        }
        indicator = KS_INDICATOR_STAGED;
    } else {
        if (!dr->allow_anonymous)
            REFUSE(KRB5KDC_ERR_POLICY, KS_DEVREG_E_ANONYMOUS_DISABLED,
                   "devreg: anonymous registration is disabled in %s",
                   dr->realm);
        if (staged)
            REFUSE(KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
                   KS_DEVREG_E_ANONYMOUS_STAGED, "devreg: device %s is "
                   "staged and must register with its device key", id);
        content = malloc(reg->auth_pack.length);
        if (content == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        memcpy(content, reg->auth_pack.data, reg->auth_pack.length);
        content_len = reg->auth_pack.length;
        indicator = KS_INDICATOR_ANONYMOUS;
    }

    ret = ks_devreg_auth_pack_decode(content, content_len, &ap);
    if (ret)
        REFUSE(KRB5KDC_ERR_PREAUTH_FAILED, KS_DEVREG_E_MALFORMED,
               "devreg: malformed registration request");
    if (ap->freshness_token.length == 0)
        REFUSE(KRB5KDC_ERR_PREAUTH_FAILED, KS_DEVREG_E_FRESHNESS_MISSING,
               "devreg: the registration request carries no freshness "
               "token");
    ret = devreg_freshness_check(ctx, dr, client, &ap->freshness_token);
    if (ret) {
        *devreg_code_out = (ret == KRB5KDC_ERR_PREAUTH_EXPIRED) ?
            KS_DEVREG_E_FRESHNESS_STALE : KS_DEVREG_E_FRESHNESS_INVALID;
        krb5_set_error_message(ctx, ret, "devreg: %s freshness token",
                               ret == KRB5KDC_ERR_PREAUTH_EXPIRED ? "stale" :
                               "invalid");
        goto cleanup;
    }
    ret = sha256(req_body->data, req_body->length, hash);
    if (ret)
        goto cleanup;
    if (ks_ct_memcmp(hash, ap->req_body_hash, KS_SHA256_LEN) != 0)
        REFUSE(KRB5KRB_AP_ERR_MODIFIED, KS_DEVREG_E_BAD_BINDING,
               "devreg: the registration request is bound to another "
               "request");
    if (!group_supported(ap->group))
        REFUSE(KRB5KDC_ERR_PREAUTH_FAILED, KS_DEVREG_E_UNSUPPORTED_GROUP,
               "devreg: unsupported key agreement group %d", (int)ap->group);
    enctype = reply_enctype(request);
    if (enctype == 0)
        REFUSE(KRB5KDC_ERR_ETYPE_NOSUPP, KS_DEVREG_E_MALFORMED,
               "devreg: the request offers no AES enctype");

    /* The KDC's half: an ephemeral key, signed. */
    ret = ks_ecdh_generate(ctx, ap->group, &ecdh);
    if (!ret)
        ret = ks_ecdh_derive(ctx, ecdh,
                             (unsigned char *)ap->client_public.data,
                             ap->client_public.length, z);
    if (ret) {
        *devreg_code_out = KS_DEVREG_E_MALFORMED;
        goto cleanup;
    }
    ret = ks_ecdh_public(ctx, ecdh, &kdc_pub, &pub_len);
    if (ret)
        goto cleanup;
    ret = sha256(reg->auth_pack.data, reg->auth_pack.length,
                 dh.auth_pack_hash);
    if (ret)
        goto cleanup;
    dh.group = ap->group;
    dh.kdc_public.data = (char *)kdc_pub;
    dh.kdc_public.length = pub_len;
    ret = ks_devreg_dh_info_encode(&dh, &dh_der, &dh_len);
    if (ret)
        goto cleanup;
    rmsg.type = KS_DEVREG_MSG_REPLY;
    ret = ks_cms_sign(ctx, dr->kdc_key, dr->kdc_cert, dr->kdc_chain,
                      KS_OID_DEVREG_DHINFO, dh_der, dh_len,
                      (unsigned char **)&rmsg.u.reply.signed_dh_info.data,
                      &content_len);
    if (ret)
        goto cleanup;
    rmsg.u.reply.signed_dh_info.length = content_len;
    ret = ks_devreg_message_encode(&rmsg, &reply_der, &reply_len);
    if (ret)
        goto cleanup;

    /* The reply key. */
    reply_data.magic = KV5M_DATA;
    reply_data.data = (char *)reply_der;
    reply_data.length = reply_len;
    ret = ks_pkinit_kdf(ctx, KS_PKINIT_KDF_SHA256, z, sizeof(z),
                        request->client, request->server, enctype, req_body,
                        &reply_data, &key);
    if (ret)
        goto cleanup;
    ret = cb->replace_reply_key(ctx, rock, &key, FALSE);
    if (!ret)
        ret = cb->add_auth_indicator(ctx, rock, indicator);
    /* A profile never passes for one of the KDC's own indicators (an
     * entry staged before kstateless refused such names). */
    if (!ret && staged && stage.profile[0] != '\0' &&
        strncmp(stage.profile, "devreg-", 7) != 0)
        ret = cb->add_auth_indicator(ctx, rock, stage.profile);
    if (ret)
        goto cleanup;
    devreg_set_registration_times(dr, request, enc_tkt_reply);
    enc_tkt_reply->flags |= TKT_FLG_PRE_AUTH;

    ret = devreg_message_padata(&rmsg, &pa);
    if (ret)
        goto cleanup;
    *reply_out = pa;

cleanup:
    ks_zero(z, sizeof(z));
    krb5_free_keyblock_contents(ctx, &key);
    free(reply_der);
    free(rmsg.u.reply.signed_dh_info.data);
    free(dh_der);
    free(kdc_pub);
    ks_ecdh_free(ecdh);
    ks_devreg_auth_pack_free(ap);
    free(content);
    X509_free(signer);
    krb5_free_principal(ctx, certname);
    ks_stage_entry_free_contents(&stage);
    return ret;
}

void
devreg_client_reg_free(struct devreg_client_reg *cr)
{
    if (cr == NULL)
        return;
    ks_ecdh_free(cr->ecdh);
    free(cr);
}

/* Forget the cached identity, or the cached anchors. */
static void
drop_identity(struct devreg_client_cache *cache)
{
    free(cache->identity);
    EVP_PKEY_free(cache->key);
    X509_free(cache->cert);
    if (cache->chain != NULL)
        sk_X509_pop_free(cache->chain, X509_free);
    cache->identity = NULL;
    cache->key = NULL;
    cache->cert = NULL;
    cache->chain = NULL;
}

static void
drop_anchors(struct devreg_client_cache *cache)
{
    free(cache->anchor);
    X509_STORE_free(cache->anchors);
    cache->anchor = NULL;
    cache->anchors = NULL;
}

krb5_error_code
devreg_register_make(krb5_context ctx, const char *identity,
                     struct devreg_client_cache *cache,
                     const struct ks_devreg_challenge *ch,
                     const krb5_data *req_body,
                     struct ks_devreg_message *msg_out,
                     struct devreg_client_reg **cr_out)
{
    struct devreg_client_reg *cr = NULL;
    struct ks_devreg_auth_pack ap;
    unsigned char *ap_der = NULL, *pub = NULL, *signed_der = NULL;
    size_t ap_len = 0, pub_len = 0, signed_len = 0, i;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *chain = NULL;
    int32_t group = 0;
    krb5_error_code ret;

    memset(msg_out, 0, sizeof(*msg_out));
    memset(&ap, 0, sizeof(ap));
    *cr_out = NULL;
    /* Prefer X25519, then P-256, among the groups the KDC offers. */
    for (i = 0; i < ch->ngroups; i++) {
        if (ch->groups[i] == KS_DEVREG_GROUP_X25519)
            group = KS_DEVREG_GROUP_X25519;
        else if (ch->groups[i] == KS_DEVREG_GROUP_P256 && group == 0)
            group = KS_DEVREG_GROUP_P256;
    }
    if (group == 0) {
        krb5_set_error_message(ctx, KRB5_PREAUTH_FAILED, "devreg: the KDC "
                               "offers no key agreement group this client "
                               "knows");
        return KRB5_PREAUTH_FAILED;
    }
    if (identity == NULL && !ch->anonymous_ok) {
        krb5_set_error_message(ctx, KRB5_PREAUTH_FAILED, "devreg: the KDC "
                               "does not allow anonymous registration");
        return KRB5_PREAUTH_FAILED;
    }
    cr = calloc(1, sizeof(*cr));
    if (cr == NULL)
        return ENOMEM;
    ret = ks_ecdh_generate(ctx, group, &cr->ecdh);
    if (!ret)
        ret = ks_ecdh_public(ctx, cr->ecdh, &pub, &pub_len);
    if (ret)
        goto cleanup;
    ap.freshness_token = ch->freshness_token;
    ret = sha256(req_body->data, req_body->length, ap.req_body_hash);
    if (ret)
        goto cleanup;
    ap.ctime = time(NULL);
    ap.group = group;
    ap.client_public.data = (char *)pub;
    ap.client_public.length = pub_len;
    ret = ks_devreg_auth_pack_encode(&ap, &ap_der, &ap_len);
    if (ret)
        goto cleanup;
    msg_out->type = KS_DEVREG_MSG_REGISTER;
    if (identity != NULL) {
        if (cache != NULL && cache->identity != NULL &&
            strcmp(cache->identity, identity) == 0) {
            ret = ks_cms_sign(ctx, cache->key, cache->cert, cache->chain,
                              KS_OID_DEVREG_AUTHPACK, ap_der, ap_len,
                              &signed_der, &signed_len);
        } else {
            ret = ks_identity_load(ctx, identity, &key, &cert, &chain);
            if (ret)
                goto cleanup;
            ret = ks_cms_sign(ctx, key, cert, chain, KS_OID_DEVREG_AUTHPACK,
                              ap_der, ap_len, &signed_der, &signed_len);
            if (!ret && cache != NULL) {
                char *copy = strdup(identity);

                if (copy != NULL) {
                    drop_identity(cache);
                    cache->identity = copy;
                    cache->key = key;
                    cache->cert = cert;
                    cache->chain = chain;
                    key = NULL;
                    cert = NULL;
                    chain = NULL;
                }
            }
        }
        if (ret)
            goto cleanup;
        msg_out->u.reg.mode = KS_DEVREG_MODE_STAGED;
        msg_out->u.reg.auth_pack.data = (char *)signed_der;
        msg_out->u.reg.auth_pack.length = signed_len;
        signed_der = NULL;
    } else {
        msg_out->u.reg.mode = KS_DEVREG_MODE_ANONYMOUS;
        msg_out->u.reg.auth_pack.data = (char *)ap_der;
        msg_out->u.reg.auth_pack.length = ap_len;
        ap_der = NULL;
    }
    ret = sha256(msg_out->u.reg.auth_pack.data, msg_out->u.reg.auth_pack.length,
                 cr->auth_pack_hash);
    if (ret)
        goto cleanup;
    *cr_out = cr;
    cr = NULL;

cleanup:
    if (ret) {
        free(msg_out->u.reg.auth_pack.data);
        memset(msg_out, 0, sizeof(*msg_out));
    }
    devreg_client_reg_free(cr);
    free(ap_der);
    free(signed_der);
    free(pub);
    EVP_PKEY_free(key);
    X509_free(cert);
    if (chain != NULL)
        sk_X509_pop_free(chain, X509_free);
    return ret;
}

void
devreg_client_cache_free(struct devreg_client_cache *cache)
{
    if (cache == NULL)
        return;
    drop_identity(cache);
    drop_anchors(cache);
}

krb5_error_code
devreg_register_finish(krb5_context ctx, struct devreg_client_reg *cr,
                       const char *anchor, struct devreg_client_cache *cache,
                       const struct ks_devreg_reply *reply,
                       const krb5_data *reply_der, krb5_const_principal client,
                       krb5_const_principal server, krb5_enctype enctype,
                       const krb5_data *req_body, krb5_keyblock *key_out)
{
    struct ks_cms_trust trust;
    struct ks_devreg_dh_info *dh = NULL;
    X509_STORE *anchors = NULL;
    X509 *signer = NULL;
    krb5_principal kdcname = NULL, tgs = NULL;
    unsigned char *content = NULL, z[KS_ECDH_SECRET_LEN];
    size_t content_len = 0;
    int32_t code = 0;
    krb5_error_code ret;

    memset(key_out, 0, sizeof(*key_out));
    memset(&trust, 0, sizeof(trust));
    if (anchor == NULL) {
        krb5_set_error_message(ctx, KRB5_PREAUTH_FAILED, "devreg: give the "
                               "registration service's trust anchor with -X "
                               "devreg_anchor=FILE:ca.pem");
        return KRB5_PREAUTH_FAILED;
    }
    if (cache != NULL && cache->anchor != NULL &&
        strcmp(cache->anchor, anchor) == 0) {
        trust.anchors = cache->anchors;
    } else {
        ret = ks_anchors_load(ctx, anchor, &anchors);
        if (ret)
            return ret;
        trust.anchors = anchors;
        if (cache != NULL) {
            char *copy = strdup(anchor);

            if (copy != NULL) {
                drop_anchors(cache);
                cache->anchor = copy;
                cache->anchors = anchors;
                anchors = NULL;
            }
        }
    }
    trust.eku_oid = KS_OID_PKINIT_KPKDC;
    ret = ks_cms_verify(ctx, (unsigned char *)reply->signed_dh_info.data,
                        reply->signed_dh_info.length, KS_OID_DEVREG_DHINFO,
                        &trust, &content, &content_len, &signer, &code);
    if (ret) {
        const char *why = krb5_get_error_message(ctx, ret);

        krb5_set_error_message(ctx, KRB5KDC_ERR_KDC_NOT_TRUSTED, "devreg: "
                               "the KDC's certificate does not verify "
                               "against devreg_anchor %s: %s", anchor, why);
        krb5_free_error_message(ctx, why);
        ret = KRB5KDC_ERR_KDC_NOT_TRUSTED;
        goto cleanup;
    }
    /* The registration service certificate names krbtgt/REALM@REALM. */
    ret = krb5_build_principal_ext(ctx, &tgs, client->realm.length,
                                   client->realm.data, 6, "krbtgt",
                                   client->realm.length, client->realm.data,
                                   0);
    if (ret)
        goto cleanup;
    if (ks_cms_cert_pkinit_principal(ctx, signer, &kdcname) != 0 ||
        !krb5_principal_compare(ctx, kdcname, tgs)) {
        ret = KRB5KDC_ERR_KDC_NOT_TRUSTED;
        krb5_set_error_message(ctx, ret, "devreg: the KDC's certificate "
                               "does not name krbtgt of this realm");
        goto cleanup;
    }
    ret = ks_devreg_dh_info_decode(content, content_len, &dh);
    if (ret)
        goto cleanup;
    if (ks_ct_memcmp(dh->auth_pack_hash, cr->auth_pack_hash,
                     KS_SHA256_LEN) != 0 ||
        dh->group != ks_ecdh_group(cr->ecdh)) {
        ret = KRB5KRB_AP_ERR_MODIFIED;
        krb5_set_error_message(ctx, ret, "devreg: the KDC's reply answers "
                               "another request");
        goto cleanup;
    }
    ret = ks_ecdh_derive(ctx, cr->ecdh, (unsigned char *)dh->kdc_public.data,
                         dh->kdc_public.length, z);
    if (ret)
        goto cleanup;
    ret = ks_pkinit_kdf(ctx, KS_PKINIT_KDF_SHA256, z, sizeof(z), client,
                        server, enctype, req_body, reply_der, key_out);

cleanup:
    ks_zero(z, sizeof(z));
    ks_devreg_dh_info_free(dh);
    free(content);
    X509_free(signer);
    X509_STORE_free(anchors);
    krb5_free_principal(ctx, kdcname);
    krb5_free_principal(ctx, tgs);
    return ret;
}
