/*
 * tempkey, KDC side (kdcpreauth): a server registers a temporary key
 * (doc/tempkey-protocol.md).  In an AS exchange as itself it sends the
 * key, sealed to the KDC's certificate (devreg_identity) inside its own
 * CMS SignedData, with a freshness token of this KDC, the key id and the
 * expiry.  The KDC checks the signer (tempkey_anchors, the certificate
 * names the principal), the token (fresh, not used before: the replay
 * cache shared with devreg logins), the lifetime (tempkey_max_life), hands
 * the key to the stateless backend (krb5_db_put_principal, lib/ks_tempkey.h;
 * the backend refuses a key id rollback and stores the key durably), and
 * answers in the new key (replace_reply_key) with a checksummed
 * TempkeyReply carrying the renew-by time.
 *
 * State: per realm, the configuration and a handle on the shared store,
 * opened on first use in each worker process.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <krb5/krb5.h>
#include <krb5/kdcpreauth_plugin.h>
#include <kdb.h>
#include <profile.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ks_cms.h"
#include "ks_config.h"
#include "ks_freshness.h"
#include "ks_iana.h"
#include "ks_preauth.h"
#include "ks_store.h"
#include "ks_tempkey.h"
#include "ks_tempkey_asn1.h"
#include "ks_util.h"
#include "tempkey_padata.h"

#define TEMPKEY_DEFAULT_MAX_LIFE 86400

static krb5_preauthtype tempkey_pa_types[] = { KS_PA_TEMPKEY, 0 };

struct tempkey_realm {
    char *realm;
    krb5_principal krbtgt_princ;
    krb5_deltat clockskew;
    krb5_deltat max_life;           /* tempkey_max_life */
    krb5_deltat renew_interval;     /* tempkey_renew_interval, 0: none */
    krb5_boolean stateless;         /* the realm's database is ours */
    char *db_library;               /* for messages */
    char *state_dir;
    krb5_enctype *enctypes;         /* the realm's enctypes */
    size_t nenctypes;
    EVP_PKEY *kdc_key;              /* devreg_identity */
    X509 *kdc_cert;
    STACK_OF(X509) *kdc_chain;
    krb5_data kdc_cert_der;
    X509_STORE *anchors;            /* tempkey_anchors */
    struct ks_store *store;         /* replay cache, opened on first use */
};

struct tempkey_realms {
    size_t n;
    struct tempkey_realm *r;
};

static krb5_error_code
realm_duration(krb5_context ctx, profile_t profile, const char *realm,
               const char *key, krb5_deltat *out)
{
    char *s = ks_preauth_realm_string(profile, realm, key);
    krb5_error_code ret;

    if (s == NULL)
        return 0;
    ret = ks_parse_duration(s, out);
    if (ret)
        krb5_set_error_message(ctx, ret, "tempkey: [realms] %s %s = %s is "
                               "not a duration", realm, key, s);
    free(s);
    return ret;
}

static krb5_error_code
load_realm(krb5_context ctx, profile_t profile, const char *realm,
           struct tempkey_realm *tr)
{
    struct ks_config *cfg = NULL;
    char *section = NULL, *s;
    krb5_error_code ret;
    int len;

    tr->realm = strdup(realm);
    if (tr->realm == NULL)
        return ENOMEM;
    tr->clockskew = ks_config_clockskew(ctx);
    tr->max_life = TEMPKEY_DEFAULT_MAX_LIFE;
    ret = realm_duration(ctx, profile, realm, "tempkey_max_life",
                         &tr->max_life);
    if (!ret)
        ret = realm_duration(ctx, profile, realm, "tempkey_renew_interval",
                             &tr->renew_interval);
    if (ret)
        goto cleanup;
    ret = ks_config_section_for_realm(ctx, realm, &section);
    if (ret)
        goto cleanup;
    ret = ks_preauth_db_library(profile, section, &tr->db_library);
    if (ret)
        goto cleanup;
    if (tr->db_library == NULL)
        tr->db_library = strdup("db2");
    if (tr->db_library == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    tr->stateless = strcmp(tr->db_library, "stateless") == 0;
    if (tr->stateless) {
        ret = ks_config_load(ctx, section, &cfg);
        if (ret)
            goto cleanup;
        tr->state_dir = strdup(cfg->state_dir);
        if (tr->state_dir == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
    }
    ret = ks_config_enctypes(ctx, realm, &tr->enctypes, &tr->nenctypes);
    if (ret)
        goto cleanup;
    if (tr->nenctypes > KS_TEMPKEY_MAX_KEYS)
        tr->nenctypes = KS_TEMPKEY_MAX_KEYS;
    s = ks_preauth_realm_string(profile, realm, "tempkey_anchors");
    if (s != NULL) {
        ret = ks_anchors_load(ctx, s, &tr->anchors);
        free(s);
        if (ret)
            goto cleanup;
    }
    s = ks_preauth_realm_string(profile, realm, "devreg_identity");
    if (s != NULL) {
        ret = ks_identity_load(ctx, s, &tr->kdc_key, &tr->kdc_cert,
                               &tr->kdc_chain);
        free(s);
        if (ret)
            goto cleanup;
        len = i2d_X509(tr->kdc_cert, NULL);
        if (len <= 0) {
            ret = EINVAL;
            goto cleanup;
        }
        tr->kdc_cert_der.data = malloc(len);
        if (tr->kdc_cert_der.data == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        {
            unsigned char *p = (unsigned char *)tr->kdc_cert_der.data;

            tr->kdc_cert_der.length = i2d_X509(tr->kdc_cert, &p);
        }
    }
    ret = krb5_build_principal(ctx, &tr->krbtgt_princ, strlen(realm), realm,
                               "krbtgt", realm, (char *)NULL);

cleanup:
    ks_config_free(cfg);
    free(section);
    return ret;
}

static void
free_realm(krb5_context ctx, struct tempkey_realm *tr)
{
    free(tr->realm);
    krb5_free_principal(ctx, tr->krbtgt_princ);
    free(tr->db_library);
    free(tr->state_dir);
    free(tr->enctypes);
    EVP_PKEY_free(tr->kdc_key);
    X509_free(tr->kdc_cert);
    if (tr->kdc_chain != NULL)
        sk_X509_pop_free(tr->kdc_chain, X509_free);
    free(tr->kdc_cert_der.data);
    X509_STORE_free(tr->anchors);
    ks_store_close(tr->store);
}

static void
realms_free(krb5_context ctx, struct tempkey_realms *realms)
{
    size_t i;

    if (realms == NULL)
        return;
    for (i = 0; i < realms->n; i++)
        free_realm(ctx, &realms->r[i]);
    free(realms->r);
    free(realms);
}

static krb5_error_code
kdc_init(krb5_context ctx, krb5_kdcpreauth_moddata *moddata_out,
         const char **realmnames)
{
    struct tempkey_realms *realms;
    profile_t profile = NULL;
    krb5_error_code ret;
    size_t n = 0, i;

    while (realmnames != NULL && realmnames[n] != NULL)
        n++;
    realms = calloc(1, sizeof(*realms));
    if (realms == NULL)
        return ENOMEM;
    realms->r = calloc(n ? n : 1, sizeof(*realms->r));
    if (realms->r == NULL) {
        free(realms);
        return ENOMEM;
    }
    ret = krb5_get_profile(ctx, &profile);
    for (i = 0; !ret && i < n; i++) {
        realms->n++;
        ret = load_realm(ctx, profile, realmnames[i], &realms->r[i]);
    }
    if (profile != NULL)
        profile_release(profile);
    if (ret) {
        realms_free(ctx, realms);
        return ret;
    }
    *moddata_out = (krb5_kdcpreauth_moddata)realms;
    return 0;
}

static void
kdc_fini(krb5_context ctx, krb5_kdcpreauth_moddata moddata)
{
    realms_free(ctx, (struct tempkey_realms *)moddata);
}

static struct tempkey_realm *
realm_find(struct tempkey_realms *realms, krb5_const_principal princ)
{
    size_t i;

    if (realms == NULL || princ == NULL)
        return NULL;
    for (i = 0; i < realms->n; i++) {
        if (ks_preauth_princ_in_realm(princ, realms->r[i].realm))
            return &realms->r[i];
    }
    return NULL;
}

static int
configured(const struct tempkey_realm *tr)
{
    return tr->anchors != NULL && tr->kdc_key != NULL;
}

static int
kdc_flags(krb5_context ctx, krb5_preauthtype pa_type)
{
    return PA_SUFFICIENT | PA_REPLACES_KEY;
}

/* The challenge for client: a freshness token, the KDC certificate, the
 * maximum lifetime and the realm's enctypes. */
static krb5_error_code
make_challenge(krb5_context ctx, const struct tempkey_realm *tr,
               krb5_const_principal client, krb5_pa_data **pa_out)
{
    struct ks_tempkey_message msg;
    krb5_error_code ret;

    *pa_out = NULL;
    memset(&msg, 0, sizeof(msg));
    msg.type = KS_TEMPKEY_MSG_CHALLENGE;
    ret = ks_freshness_make(ctx, tr->krbtgt_princ, client,
                            &msg.u.challenge.freshness_token);
    if (!ret) {
        msg.u.challenge.max_life = tr->max_life;
        msg.u.challenge.kdc_cert = tr->kdc_cert_der;
        msg.u.challenge.enctypes = tr->enctypes;
        msg.u.challenge.nenctypes = tr->nenctypes;
        ret = tempkey_message_padata(&msg, pa_out);
    }
    krb5_free_data_contents(ctx, &msg.u.challenge.freshness_token);
    return ret;
}

/*
 * Offer tempkey with its challenge when the KDC asks for preauthentication
 * (principals that require it: tempkey_services before their first key,
 * and every principal with temporary keys).  A server whose principal
 * does not require preauthentication (a derived-key service moving to
 * temporary keys) sends an empty tempkey padata instead and gets the
 * challenge from kdc_verify().
 */
static void
kdc_edata(krb5_context ctx, krb5_kdc_req *request,
          krb5_kdcpreauth_callbacks cb, krb5_kdcpreauth_rock rock,
          krb5_kdcpreauth_moddata moddata, krb5_preauthtype pa_type,
          krb5_kdcpreauth_edata_respond_fn respond, void *arg)
{
    struct tempkey_realms *realms = (struct tempkey_realms *)moddata;
    const struct tempkey_realm *tr;
    krb5_principal client = cb->client_name(ctx, rock);
    krb5_pa_data *pa = NULL;
    krb5_error_code ret;

    tr = realm_find(realms, client);
    if (tr == NULL || !configured(tr) || client->length < 2) {
        (*respond)(arg, ENOENT, NULL);
        return;
    }
    ret = make_challenge(ctx, tr, client, &pa);
    (*respond)(arg, ret, pa);
}

/* Set a refusal: *cause_out and the message of code. */
#define REFUSE(cause, code, ...) do {                               \
        *cause_out = (cause);                                       \
        ret = (code);                                               \
        krb5_set_error_message(ctx, ret, "tempkey: " __VA_ARGS__);  \
        goto cleanup;                                               \
    } while (0)

/* The tempkey cause of a ks_cms_verify()/ks_cms_cert_verify() refusal. */
static int32_t
cms_cause(int32_t devreg_code)
{
    switch (devreg_code) {
    case KS_DEVREG_E_MALFORMED:         return KS_TEMPKEY_E_MALFORMED;
    case KS_DEVREG_E_BAD_SIGNATURE:     return KS_TEMPKEY_E_BAD_SIGNATURE;
    case KS_DEVREG_E_UNTRUSTED_CERT:    return KS_TEMPKEY_E_UNTRUSTED_CERT;
    case KS_DEVREG_E_CERT_EXPIRED:      return KS_TEMPKEY_E_CERT_EXPIRED;
    case KS_DEVREG_E_CERT_NOT_YET_VALID:
        return KS_TEMPKEY_E_CERT_NOT_YET_VALID;
    case KS_DEVREG_E_WRONG_EKU:         return KS_TEMPKEY_E_WRONG_EKU;
    default:                            return 0;
    }
}

/* Nonzero if cert names client: its id-pkinit-san, or for a host-based
 * principal (service/host) a dNSName equal to the host. */
static int
cert_names(krb5_context ctx, X509 *cert, krb5_const_principal client)
{
    krb5_principal san = NULL;
    char **names = NULL;
    int yes = 0;
    size_t i;

    if (ks_cms_cert_pkinit_principal(ctx, cert, &san) == 0) {
        yes = krb5_principal_compare(ctx, san, client);
        krb5_free_principal(ctx, san);
        return yes;
    }
    krb5_clear_error_message(ctx);
    if (client->length != 2 || client->data[1].length == 0)
        return 0;
    if (ks_cms_cert_dns_names(ctx, cert, &names) != 0) {
        krb5_clear_error_message(ctx);
        return 0;
    }
    for (i = 0; names[i] != NULL && !yes; i++) {
        yes = strlen(names[i]) == client->data[1].length &&
            strncasecmp(names[i], client->data[1].data,
                        client->data[1].length) == 0;
    }
    ks_cms_free_names(names);
    return yes;
}

static krb5_data
data_of(void *p, size_t len)
{
    krb5_data d;

    d.magic = KV5M_DATA;
    d.data = p;
    d.length = (unsigned int)len;
    return d;
}

static int
enctype_in(krb5_enctype e, const krb5_enctype *list, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (list[i] == e)
            return 1;
    }
    return 0;
}

/* A registration being verified. */
struct reg {
    struct ks_tempkey_request_body *body;
    struct ks_tempkey_keys *keys;   /* opened, filtered to realm enctypes */
    krb5_keyblock *blocks;          /* the same as keyblocks (aliases) */
    size_t nblocks;
    X509 *signer;
};

static void
reg_free(struct reg *r)
{
    ks_tempkey_request_body_free(r->body);
    ks_tempkey_keys_free(r->keys);
    free(r->blocks);
    X509_free(r->signer);
}

/* Open the sealed keys and keep those of the realm's enctypes. */
static krb5_error_code
open_keys(krb5_context ctx, struct tempkey_realm *tr, struct reg *r,
          int32_t *cause_out)
{
    unsigned char *plain = NULL;
    size_t plainlen = 0, i, keylen;
    krb5_error_code ret;
    size_t dummy;

    ret = ks_cms_open(ctx, tr->kdc_key, tr->kdc_cert, KS_OID_TEMPKEY_KEYS,
                      (unsigned char *)r->body->sealed_keys.data,
                      r->body->sealed_keys.length, &plain, &plainlen);
    if (ret == KRB5KDC_ERR_CERTIFICATE_MISMATCH)
        REFUSE(KS_TEMPKEY_E_WRONG_KDC_KEY, ret, "the keys are sealed to "
               "another key than this KDC's certificate (devreg_identity)");
    if (ret == ASN1_PARSE_ERROR)
        REFUSE(KS_TEMPKEY_E_MALFORMED, KRB5KDC_ERR_PREAUTH_FAILED,
               "the sealed keys are not a well-formed EnvelopedData");
    if (ret)
        goto cleanup;
    ret = ks_tempkey_keys_decode(plain, plainlen, &r->keys);
    if (ret)
        REFUSE(KS_TEMPKEY_E_MALFORMED, KRB5KDC_ERR_PREAUTH_FAILED,
               "the sealed content is not a TempkeyKeys");
    r->blocks = calloc(r->keys->n ? r->keys->n : 1, sizeof(*r->blocks));
    if (r->blocks == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    for (i = 0; i < r->keys->n; i++) {
        const struct ks_tempkey_key *k = &r->keys->keys[i];

        if (!krb5_c_valid_enctype(k->enctype))
            continue;
        if (krb5_c_keylengths(ctx, k->enctype, &dummy, &keylen) != 0 ||
            keylen != k->key.length)
            REFUSE(KS_TEMPKEY_E_BAD_KEY, KRB5KDC_ERR_PREAUTH_FAILED,
                   "the key of enctype %d has %u bytes, not %u",
                   (int)k->enctype, (unsigned)k->key.length,
                   (unsigned)keylen);
        if (!enctype_in(k->enctype, tr->enctypes, tr->nenctypes))
            continue;
        r->blocks[r->nblocks].magic = KV5M_KEYBLOCK;
        r->blocks[r->nblocks].enctype = k->enctype;
        r->blocks[r->nblocks].length = k->key.length;
        r->blocks[r->nblocks].contents = (krb5_octet *)k->key.data;
        r->nblocks++;
    }
    if (r->nblocks == 0)
        REFUSE(KS_TEMPKEY_E_BAD_KEY, KRB5KDC_ERR_PREAUTH_FAILED,
               "none of the registered keys has one of the realm's "
               "enctypes");

cleanup:
    if (plain != NULL)
        ks_zfree(plain, plainlen);
    return ret;
}

/* Hand the keys to the stateless backend (lib/ks_tempkey.h). */
static krb5_error_code
store_keys(krb5_context ctx, struct tempkey_realm *tr,
           krb5_const_principal client, const struct reg *r,
           int32_t *cause_out)
{
    krb5_db_entry ent;
    krb5_key_data *kd = NULL;
    krb5_tl_data tl;
    unsigned char expiry[KS_TL_TEMPKEY_LEN];
    krb5_error_code ret;
    const char *msg;
    size_t i;

    memset(&ent, 0, sizeof(ent));
    memset(&tl, 0, sizeof(tl));
    kd = calloc(r->nblocks, sizeof(*kd));
    if (kd == NULL)
        return ENOMEM;
    for (i = 0; i < r->nblocks; i++)
        ks_tempkey_key_data(&r->blocks[i], r->body->key_id, &kd[i]);
    ks_tempkey_tl_encode(r->body->expiry, expiry);
    tl.tl_data_type = KS_TL_TEMPKEY;
    tl.tl_data_length = KS_TL_TEMPKEY_LEN;
    tl.tl_data_contents = expiry;
    ent.magic = KRB5_KDB_MAGIC_NUMBER;
    ent.len = KRB5_KDB_V1_BASE_LENGTH;
    ent.princ = (krb5_principal)client;
    ent.n_key_data = (krb5_int16)r->nblocks;
    ent.key_data = kd;
    ent.n_tl_data = 1;
    ent.tl_data = &tl;
    ret = krb5_db_put_principal(ctx, &ent);
    /* The key bytes belong to r; only the array is ours. */
    free(kd);
    if (ret == 0)
        return 0;
    msg = krb5_get_error_message(ctx, ret);
    if (ret == KRB5_KDB_INUSE) {
        *cause_out = KS_TEMPKEY_E_ROLLBACK;
        krb5_set_error_message(ctx, KRB5KDC_ERR_CLIENT_NOT_TRUSTED,
                               "tempkey: %s", msg);
        ret = KRB5KDC_ERR_CLIENT_NOT_TRUSTED;
    } else if (ret == KRB5_KDB_NOENTRY) {
        *cause_out = KS_TEMPKEY_E_NOT_CONFIGURED;
        krb5_set_error_message(ctx, KRB5KDC_ERR_PREAUTH_FAILED,
                               "tempkey: %s", msg);
        ret = KRB5KDC_ERR_PREAUTH_FAILED;
    } else if (ret == EINVAL) {
        *cause_out = KS_TEMPKEY_E_BAD_KEY;
        krb5_set_error_message(ctx, KRB5KDC_ERR_PREAUTH_FAILED,
                               "tempkey: %s", msg);
        ret = KRB5KDC_ERR_PREAUTH_FAILED;
    } else {
        *cause_out = KS_TEMPKEY_E_STORE;
        krb5_set_error_message(ctx, ret, "tempkey: storing the key failed: "
                               "%s", msg);
    }
    krb5_free_error_message(ctx, msg);
    return ret;
}

/* The reply padata: TempkeyReply checksummed in reply_key. */
static krb5_error_code
make_reply(krb5_context ctx, const struct reg *r, const krb5_keyblock *key,
           time_t renew_by, krb5_pa_data **pa_out)
{
    struct ks_tempkey_reply_body rb;
    struct ks_tempkey_message msg;
    krb5_checksum cksum;
    krb5_data data;
    unsigned char *der = NULL;
    size_t derlen = 0;
    krb5_error_code ret;

    memset(&cksum, 0, sizeof(cksum));
    memset(&rb, 0, sizeof(rb));
    rb.key_id = r->body->key_id;
    rb.expiry = r->body->expiry;
    rb.renew_by = renew_by;
    memcpy(rb.req_body_hash, r->body->req_body_hash, KS_SHA256_LEN);
    ret = ks_tempkey_reply_body_encode(&rb, &der, &derlen);
    if (ret)
        return ret;
    data = data_of(der, derlen);
    ret = krb5_c_make_checksum(ctx, 0, key, KS_KEYUSAGE_TEMPKEY_REPLY, &data,
                               &cksum);
    free(der);
    if (ret)
        return ret;
    memset(&msg, 0, sizeof(msg));
    msg.type = KS_TEMPKEY_MSG_REPLY;
    msg.u.reply.key_id = rb.key_id;
    msg.u.reply.expiry = rb.expiry;
    msg.u.reply.renew_by = renew_by;
    msg.u.reply.cksumtype = cksum.checksum_type;
    msg.u.reply.checksum = data_of(cksum.contents, cksum.length);
    ret = tempkey_message_padata(&msg, pa_out);
    krb5_free_checksum_contents(ctx, &cksum);
    return ret;
}

static krb5_error_code
verify_request(krb5_context ctx, struct tempkey_realm *tr,
               krb5_kdc_req *request, krb5_enc_tkt_part *enc_tkt_reply,
               const struct ks_tempkey_request *req,
               krb5_kdcpreauth_callbacks cb, krb5_kdcpreauth_rock rock,
               krb5_pa_data **reply_out, int32_t *cause_out)
{
    struct ks_cms_trust trust;
    struct reg r;
    krb5_principal client = cb->client_name(ctx, rock), named = NULL;
    krb5_data *req_body = cb->request_body(ctx, rock);
    unsigned char *content = NULL, hash[KS_SHA256_LEN];
    unsigned char replay_id[KS_SHA256_LEN];
    size_t content_len = 0, i, j;
    const krb5_keyblock *reply_key = NULL;
    krb5_timestamp now, token_time = 0;
    int32_t code = 0;
    time_t renew_by;
    krb5_deltat life;
    krb5_error_code ret;

    memset(&r, 0, sizeof(r));
    if (!configured(tr))
        REFUSE(KS_TEMPKEY_E_NOT_CONFIGURED, KRB5KDC_ERR_PREAUTH_FAILED,
               "realm %s does not accept temporary keys (set tempkey_anchors "
               "and devreg_identity in its [realms] section)", tr->realm);
    if (!tr->stateless)
        REFUSE(KS_TEMPKEY_E_UNSUPPORTED_DB, KRB5KDC_ERR_PREAUTH_FAILED,
               "realm %s's database (db_library = %s) cannot store "
               "temporary keys; only the stateless backend can", tr->realm,
               tr->db_library);

    /* The signer. */
    memset(&trust, 0, sizeof(trust));
    trust.anchors = tr->anchors;
    trust.eku_oid = KS_OID_PKINIT_KPCLIENTAUTH;
    trust.eku_absent_ok = TRUE;
    ret = ks_cms_verify(ctx, (unsigned char *)req->signed_request.data,
                        req->signed_request.length, KS_OID_TEMPKEY_REQUEST,
                        &trust, &content, &content_len, &r.signer, &code);
    if (ret) {
        *cause_out = cms_cause(code);
        goto cleanup;
    }
    ret = ks_tempkey_request_body_decode(content, content_len, &r.body);
    if (ret)
        REFUSE(KS_TEMPKEY_E_MALFORMED, KRB5KDC_ERR_PREAUTH_FAILED,
               "the signed content is not a TempkeyRequestBody");
    if (r.body->version != KS_TEMPKEY_VERSION)
        REFUSE(KS_TEMPKEY_E_MALFORMED, KRB5KDC_ERR_PREAUTH_FAILED,
               "unsupported TempkeyRequest version %d", (int)r.body->version);

    /* Whose key: the signed principal is the AS client, and the
     * certificate names it. */
    ret = krb5_parse_name(ctx, r.body->principal, &named);
    if (ret || !krb5_principal_compare(ctx, named, client))
        REFUSE(KS_TEMPKEY_E_PRINC_MISMATCH, KRB5KDC_ERR_CLIENT_NAME_MISMATCH,
               "the request is signed for %s, not for the requesting "
               "client", r.body->principal);
    if (!cert_names(ctx, r.signer, client))
        REFUSE(KS_TEMPKEY_E_CERT_WRONG_PRINC,
               KRB5KDC_ERR_CLIENT_NAME_MISMATCH, "the server certificate "
               "names neither %s (id-pkinit-san) nor its host (dNSName)",
               r.body->principal);

    /* Bound to this AS request. */
    if (EVP_Digest(req_body->data, req_body->length, hash, NULL,
                   EVP_sha256(), NULL) != 1) {
        ret = KRB5_CRYPTO_INTERNAL;
        goto cleanup;
    }
    if (ks_ct_memcmp(hash, r.body->req_body_hash, KS_SHA256_LEN) != 0)
        REFUSE(KS_TEMPKEY_E_BAD_BINDING, KRB5KDC_ERR_PREAUTH_FAILED,
               "the request's hash of the AS-REQ body does not match");

    /* Fresh. */
    if (r.body->freshness_token.length == 0)
        REFUSE(KS_TEMPKEY_E_FRESHNESS_MISSING, KRB5KDC_ERR_PREAUTH_FAILED,
               "the request carries no freshness token");
    ret = ks_freshness_check(ctx, tr->krbtgt_princ, tr->clockskew, client,
                             &r.body->freshness_token, &token_time);
    if (ret == KRB5KDC_ERR_PREAUTH_EXPIRED)
        REFUSE(KS_TEMPKEY_E_FRESHNESS_STALE, ret, "the freshness token is "
               "older than the clock skew allowance");
    if (ret)
        REFUSE(KS_TEMPKEY_E_FRESHNESS_INVALID, KRB5KDC_ERR_PREAUTH_FAILED,
               "the freshness token is not one this realm made for %s",
               r.body->principal);

    /* The key's lifetime. */
    ret = krb5_timeofday(ctx, &now);
    if (ret)
        goto cleanup;
    if (r.body->expiry <= (time_t)now)
        REFUSE(KS_TEMPKEY_E_BAD_KEY, KRB5KDC_ERR_PREAUTH_FAILED,
               "the key's expiry is not in the future");
    life = (krb5_deltat)(r.body->expiry - (time_t)now);
    if (r.body->expiry - (time_t)now > (time_t)tr->max_life + tr->clockskew)
        REFUSE(KS_TEMPKEY_E_LIFETIME, KRB5KDC_ERR_PREAUTH_FAILED,
               "the key would live %ld s, more than tempkey_max_life (%ld s)",
               (long)life, (long)tr->max_life);

    ret = open_keys(ctx, tr, &r, cause_out);
    if (ret)
        goto cleanup;
    /* The reply key: the first enctype of the request we have a key of. */
    for (i = 0; i < (size_t)request->nktypes && reply_key == NULL; i++) {
        for (j = 0; j < r.nblocks; j++) {
            if (r.blocks[j].enctype == request->ktype[i]) {
                reply_key = &r.blocks[j];
                break;
            }
        }
    }
    if (reply_key == NULL)
        REFUSE(KS_TEMPKEY_E_BAD_KEY, KRB5KDC_ERR_ETYPE_NOSUPP, "none of the "
               "registered keys has an enctype the AS request accepts");

    /* Used once: the token, in the replay cache shared with devreg. */
    if (tr->store == NULL) {
        ret = ks_store_open(ctx, tr->state_dir, 0, &tr->store);
        if (ret) {
            *cause_out = KS_TEMPKEY_E_STORE;
            goto cleanup;
        }
    }
    if (EVP_Digest(r.body->freshness_token.data,
                   r.body->freshness_token.length, replay_id, NULL,
                   EVP_sha256(), NULL) != 1) {
        ret = KRB5_CRYPTO_INTERNAL;
        goto cleanup;
    }
    ret = ks_store_replay_check_and_insert(ctx, tr->store, replay_id,
                                           (time_t)token_time +
                                           tr->clockskew + 1, now);
    if (ret == KRB5KRB_AP_ERR_REPEAT)
        REFUSE(KS_TEMPKEY_E_REPLAY, KRB5KDC_ERR_PREAUTH_FAILED,
               "replayed registration request (its freshness token was "
               "used before)");
    if (ret) {
        *cause_out = KS_TEMPKEY_E_STORE;
        goto cleanup;
    }

    ret = store_keys(ctx, tr, client, &r, cause_out);
    if (ret)
        goto cleanup;

    renew_by = now + life / 2;
    if (tr->renew_interval > 0 && tr->renew_interval < life / 2)
        renew_by = now + tr->renew_interval;
    ret = make_reply(ctx, &r, reply_key, renew_by, reply_out);
    if (ret)
        goto cleanup;
    ret = cb->replace_reply_key(ctx, rock, reply_key, FALSE);
    if (ret)
        goto cleanup;
    enc_tkt_reply->flags |= TKT_FLG_PRE_AUTH;

cleanup:
    free(content);
    krb5_free_principal(ctx, named);
    reg_free(&r);
    return ret;
}

static void
kdc_verify(krb5_context ctx, krb5_data *req_pkt, krb5_kdc_req *request,
           krb5_enc_tkt_part *enc_tkt_reply, krb5_pa_data *pa,
           krb5_kdcpreauth_callbacks cb, krb5_kdcpreauth_rock rock,
           krb5_kdcpreauth_moddata moddata,
           krb5_kdcpreauth_verify_respond_fn respond, void *arg)
{
    struct tempkey_realms *realms = (struct tempkey_realms *)moddata;
    struct tempkey_realm *tr;
    struct ks_tempkey_message *msg = NULL;
    krb5_principal client = cb->client_name(ctx, rock);
    krb5_pa_data *reply = NULL, **e_data = NULL;
    int32_t cause = 0;
    krb5_error_code ret;

    tr = realm_find(realms, client);
    if (tr == NULL) {
        ret = KRB5_PREAUTH_FAILED;
        goto done;
    }
    if (pa->length == 0) {
        /* A server asking for the challenge (see kdc_edata). */
        if (!configured(tr)) {
            ret = KRB5KDC_ERR_PREAUTH_FAILED;
            cause = KS_TEMPKEY_E_NOT_CONFIGURED;
            krb5_set_error_message(ctx, ret, "tempkey: realm %s does not "
                                   "accept temporary keys (set "
                                   "tempkey_anchors and devreg_identity in "
                                   "its [realms] section)", tr->realm);
            goto done;
        }
        ret = make_challenge(ctx, tr, client, &reply);
        if (!ret) {
            /* The list takes the challenge (and frees it on failure). */
            ret = ks_preauth_padata_list(reply, &e_data);
            reply = NULL;
            if (!ret)
                ret = KRB5KDC_ERR_MORE_PREAUTH_DATA_REQUIRED;
        }
        goto done;
    }
    ret = ks_tempkey_message_decode(pa->contents, pa->length, &msg);
    if (ret || msg->type != KS_TEMPKEY_MSG_REQUEST) {
        ret = KRB5KDC_ERR_PREAUTH_FAILED;
        cause = KS_TEMPKEY_E_MALFORMED;
        krb5_set_error_message(ctx, ret, "tempkey: malformed tempkey padata "
                               "(not a TempkeyRequest)");
        goto done;
    }
    ret = verify_request(ctx, tr, request, enc_tkt_reply, &msg->u.request,
                         cb, rock, &reply, &cause);

done:
    ks_tempkey_message_free(msg);
    /* A refusal with a cause goes out with a code the KDC passes through
     * and a TempkeyError e-data.  The reply padata travels to
     * return_padata as the request's module data. */
    ks_preauth_verify_respond(ctx, &tempkey_causes, ret, cause, reply, e_data,
                              respond, arg);
}

krb5_error_code
kdcpreauth_tempkey_initvt(krb5_context ctx, int maj_ver, int min_ver,
                          krb5_plugin_vtable vtable);

krb5_error_code
kdcpreauth_tempkey_initvt(krb5_context ctx, int maj_ver, int min_ver,
                          krb5_plugin_vtable vtable)
{
    krb5_kdcpreauth_vtable vt;

    if (maj_ver != 1)
        return KRB5_PLUGIN_VER_NOTSUPP;
    vt = (krb5_kdcpreauth_vtable)vtable;
    vt->name = "tempkey";
    vt->pa_type_list = tempkey_pa_types;
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
