/*
 * devreg_tamper: run a devreg registration or login in-process, the way
 * kinit -X does (krb5_get_init_creds_password with
 * krb5_get_init_creds_opt_set_pa, the devreg clpreauth module loaded from
 * krb5.conf), and tamper with it; or tamper with a registration credential
 * in a ccache.  For t_devreg_refusals.sh and t_devreg_renewal.sh.
 *
 *   devreg_tamper register CLIENT OUT_CCACHE ATTR=VALUE...
 *       plain registration (the control: no tampering), as
 *       kinit -l 30d -S devreg/REALM@REALM -X ATTR=VALUE... CLIENT
 *   devreg_tamper stale-token SECONDS CLIENT OUT_CCACHE ATTR=VALUE...
 *       the same, sleeping SECONDS after each devreg challenge arrives, so
 *       that the KDC's freshness token is old when the device uses it
 *       while everything the device makes itself is fresh
 *   devreg_tamper bad-token CLIENT OUT_CCACHE ATTR=VALUE...
 *       the same, with the last byte of the challenge's freshness token
 *       flipped before the client module sees it
 *   devreg_tamper empty-token CLIENT OUT_CCACHE ATTR=VALUE...
 *       anonymous registration whose DevregAuthPack carries an empty
 *       freshness token (the request is rewritten before it is sent)
 *   devreg_tamper login [-t OFFSET] REG_CCACHE CLIENT OUT_CCACHE
 *       login, as kinit -X devreg_ticket=REG_CCACHE CLIENT; with -t the
 *       device's clock is OFFSET seconds off (krb5_set_real_time), so that
 *       a device whose clock lags can show an expired registration to the
 *       KDC (the client library refuses it by its own clock otherwise)
 *   devreg_tamper impersonate REG_CCACHE CLIENT OUT_CCACHE
 *       log CLIENT in with the registration credential of another device
 *       held in REG_CCACHE: the AP-REQ is made with that credential as it
 *       is (its ticket and an authenticator naming its own device, the
 *       checksum over CLIENT's request), so only the KDC's comparison of
 *       the ticket's client with the request's client can refuse it
 *   devreg_tamper flip-ticket IN_CCACHE OUT_CCACHE
 *       copy the registration credential with one byte flipped in the
 *       middle of its ticket's ciphertext (the DER stays valid)
 *   devreg_tamper rename IN_CCACHE OUT_CCACHE NEW_CLIENT
 *       copy the registration credential as NEW_CLIENT's (the credential's
 *       client and the ccache's principal), ticket unchanged
 *   devreg_tamper keyhash CCACHE SERVER
 *       print the SHA-256 (hex) of the session key of SERVER's ticket in
 *       CCACHE (a registration's device key), never the key itself
 *
 * Exit status: 0 success; 1 the KDC exchange failed, with on stderr the
 * line stock kinit would print ("devreg_tamper: ... while getting initial
 * credentials") and then the library's error code and message; 2 usage;
 * 3 the tampering could not be done (nothing to tamper with, or an error
 * inside the hooks), so that a refusal is never credited to a tampering
 * that did not happen.  Each tampering done is reported on stdout
 * ("tampered: ...").
 *
 * Messages are taken apart and rebuilt with krb5's public API
 * (krb5_rd_error, krb5_mk_error, krb5_decode_ticket, krb5_mk_req_extended),
 * the project's codecs (ks_devreg_message_decode/encode) and the OpenSSL
 * ASN.1 templates below for the Kerberos structures krb5 does not expose
 * (METHOD-DATA, AS-REQ) and for an auth pack the project's strict encoder
 * refuses (an empty token); no DER is written by hand.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <krb5/krb5.h>
#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/safestack.h>

#include "ks_asn1.h"
#include "ks_iana.h"
#include "ks_util.h"

/* The lifetime registrations ask for (kinit -l 30d): the KDC caps it at
 * registration_max_life. */
#define REGISTRATION_LIFE (30 * 86400)

/* Stale mode: sleep for at most this many challenges, in case the client
 * keeps retrying with new ones. */
#define MAX_STALE_CHALLENGES 4

/* ---- ASN.1 templates (RFC 4120 and doc/devreg-protocol.md) -------------- */

/* PA-DATA ::= SEQUENCE { padata-type [1] Int32, padata-value [2] OCTET
 * STRING } */
typedef struct {
    ASN1_INTEGER *type;
    ASN1_OCTET_STRING *value;
} TAMPER_PA_DATA;

ASN1_SEQUENCE(TAMPER_PA_DATA) = {
    ASN1_EXP(TAMPER_PA_DATA, type, ASN1_INTEGER, 1),
    ASN1_EXP(TAMPER_PA_DATA, value, ASN1_OCTET_STRING, 2),
} static_ASN1_SEQUENCE_END(TAMPER_PA_DATA)

DEFINE_STACK_OF(TAMPER_PA_DATA)

/* METHOD-DATA ::= SEQUENCE OF PA-DATA (the e-data of PREAUTH_REQUIRED). */
ASN1_ITEM_TEMPLATE(TAMPER_METHOD_DATA) =
    ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, TAMPER_METHOD_DATA,
                          TAMPER_PA_DATA)
static_ASN1_ITEM_TEMPLATE_END(TAMPER_METHOD_DATA)

/* KDC-REQ ::= SEQUENCE { pvno [1], msg-type [2], padata [3] SEQUENCE OF
 * PA-DATA OPTIONAL, req-body [4] KDC-REQ-BODY }; the body is kept as an
 * opaque value, re-encoded byte for byte. */
typedef struct {
    ASN1_INTEGER *pvno;
    ASN1_INTEGER *msg_type;
    STACK_OF(TAMPER_PA_DATA) *padata;
    ASN1_TYPE *req_body;
} TAMPER_KDC_REQ;

ASN1_SEQUENCE(TAMPER_KDC_REQ) = {
    ASN1_EXP(TAMPER_KDC_REQ, pvno, ASN1_INTEGER, 1),
    ASN1_EXP(TAMPER_KDC_REQ, msg_type, ASN1_INTEGER, 2),
    ASN1_EXP_SEQUENCE_OF_OPT(TAMPER_KDC_REQ, padata, TAMPER_PA_DATA, 3),
    ASN1_EXP(TAMPER_KDC_REQ, req_body, ASN1_ANY, 4),
} static_ASN1_SEQUENCE_END(TAMPER_KDC_REQ)

/* AS-REQ ::= [APPLICATION 10] KDC-REQ */
ASN1_ITEM_TEMPLATE(TAMPER_AS_REQ) =
    ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_EXPTAG | ASN1_TFLG_APPLICATION, 10,
                          TAMPER_AS_REQ, TAMPER_KDC_REQ)
static_ASN1_ITEM_TEMPLATE_END(TAMPER_AS_REQ)

/* DevregAuthPack with every field opaque, so that an empty freshness token
 * (which ks_devreg_auth_pack_encode refuses) can be encoded. */
typedef struct {
    ASN1_OCTET_STRING *freshness_token;
    ASN1_OCTET_STRING *req_body_hash;
    ASN1_GENERALIZEDTIME *ctime;
    ASN1_INTEGER *group;
    ASN1_OCTET_STRING *client_public;
} TAMPER_AUTH_PACK;

ASN1_SEQUENCE(TAMPER_AUTH_PACK) = {
    ASN1_EXP(TAMPER_AUTH_PACK, freshness_token, ASN1_OCTET_STRING, 0),
    ASN1_EXP(TAMPER_AUTH_PACK, req_body_hash, ASN1_OCTET_STRING, 1),
    ASN1_EXP(TAMPER_AUTH_PACK, ctime, ASN1_GENERALIZEDTIME, 2),
    ASN1_EXP(TAMPER_AUTH_PACK, group, ASN1_INTEGER, 3),
    ASN1_EXP(TAMPER_AUTH_PACK, client_public, ASN1_OCTET_STRING, 4),
} static_ASN1_SEQUENCE_END(TAMPER_AUTH_PACK)

/* ---- state -------------------------------------------------------------- */

enum tamper_mode {
    MODE_NONE,
    MODE_STALE,
    MODE_BAD_TOKEN,
    MODE_EMPTY_TOKEN,
    MODE_IMPERSONATE,
};

static krb5_context ctx;
static enum tamper_mode mode = MODE_NONE;
static unsigned int stale_seconds;
static unsigned int tampered;           /* tamperings done */
static krb5_error_code hook_ret;        /* first failure inside a hook */
static char hook_what[256];
static krb5_creds *imp_creds;           /* impersonate: the real credential */

/* Print krb5's message for code after what, on stderr. */
static void
report(krb5_error_code code, const char *what)
{
    const char *msg = krb5_get_error_message(ctx, code);

    fprintf(stderr, "devreg_tamper: %s: %s\n", what, msg);
    krb5_free_error_message(ctx, msg);
}

/* Remember the first failure inside a hook; return code for the hook. */
static krb5_error_code
hook_fail(krb5_error_code code, const char *what)
{
    if (hook_ret == 0) {
        hook_ret = code;
        snprintf(hook_what, sizeof(hook_what), "%s", what);
    }
    return code;
}

/* DER-decode exactly len bytes at der as it; NULL on any error. */
static ASN1_VALUE *
der_decode(const ASN1_ITEM *it, const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    ASN1_VALUE *v;

    if (len == 0 || len > KS_ASN1_MAX_INPUT)
        return NULL;
    v = ASN1_item_d2i(NULL, &p, (long)len, it);
    if (v != NULL && p != der + len) {
        ASN1_item_free(v, it);
        return NULL;
    }
    return v;
}

/* DER-encode v as it into a new krb5_data (malloc'ed contents). */
static krb5_error_code
der_encode(const ASN1_ITEM *it, const ASN1_VALUE *v, krb5_data *out)
{
    unsigned char *der = NULL;
    int len;

    memset(out, 0, sizeof(*out));
    len = ASN1_item_i2d(v, &der, it);
    if (len <= 0)
        return ASN1_BAD_FORMAT;
    out->data = malloc(len);
    if (out->data == NULL) {
        OPENSSL_free(der);
        return ENOMEM;
    }
    memcpy(out->data, der, len);
    out->length = len;
    out->magic = KV5M_DATA;
    OPENSSL_free(der);
    return 0;
}

/* The devreg element of a PA-DATA list, or NULL. */
static TAMPER_PA_DATA *
find_devreg(STACK_OF(TAMPER_PA_DATA) *list)
{
    TAMPER_PA_DATA *pa;
    int64_t type;
    int i;

    for (i = 0; list != NULL && i < sk_TAMPER_PA_DATA_num(list); i++) {
        pa = sk_TAMPER_PA_DATA_value(list, i);
        if (pa != NULL && pa->type != NULL && pa->value != NULL &&
            ASN1_INTEGER_get_int64(&type, pa->type) && type == KS_PA_DEVREG)
            return pa;
    }
    return NULL;
}

/* Replace pa's value with the DER of msg. */
static krb5_error_code
set_devreg_value(TAMPER_PA_DATA *pa, const struct ks_devreg_message *msg)
{
    unsigned char *der = NULL;
    size_t len = 0;
    krb5_error_code ret;

    ret = ks_devreg_message_encode(msg, &der, &len);
    if (ret)
        return ret;
    if (!ASN1_OCTET_STRING_set(pa->value, der, (int)len))
        ret = ENOMEM;
    free(der);
    return ret;
}

/* ---- receive hook: the KDC's challenge ---------------------------------- */

/*
 * If reply is a KRB-ERROR whose e-data holds a devreg challenge: in stale
 * mode sleep; in bad-token mode rebuild the error with the token's last
 * byte flipped into *new_reply_out.
 */
static krb5_error_code
tamper_challenge(const krb5_data *reply, krb5_data **new_reply_out)
{
    krb5_error *err = NULL;
    STACK_OF(TAMPER_PA_DATA) *md = NULL;
    TAMPER_PA_DATA *pa;
    struct ks_devreg_message *msg = NULL;
    krb5_data new_edata, enc, saved;
    krb5_error_code ret = 0;

    memset(&new_edata, 0, sizeof(new_edata));
    memset(&enc, 0, sizeof(enc));
    /* Anything else (an AS-REP) passes untouched. */
    if (krb5_rd_error(ctx, reply, &err) != 0)
        return 0;
    if (err->e_data.length == 0)
        goto cleanup;
    md = (STACK_OF(TAMPER_PA_DATA) *)
        der_decode(ASN1_ITEM_rptr(TAMPER_METHOD_DATA),
                   (unsigned char *)err->e_data.data, err->e_data.length);
    pa = find_devreg(md);
    if (pa == NULL)
        goto cleanup;
    if (ks_devreg_message_decode(pa->value->data, pa->value->length,
                                 &msg) != 0 ||
        msg->type != KS_DEVREG_MSG_CHALLENGE)
        goto cleanup;

    if (mode == MODE_STALE) {
        if (tampered >= MAX_STALE_CHALLENGES) {
            ret = hook_fail(KRB5_PREAUTH_FAILED, "the client kept asking "
                            "for new challenges");
            goto cleanup;
        }
        /* The token was made when the KDC sent this reply. */
        printf("tampered: waiting %u s before answering the challenge\n",
               stale_seconds);
        fflush(stdout);
        sleep(stale_seconds);
        tampered++;
        goto cleanup;
    }

    /* Bad token: flip its last byte (inside the ciphertext's MAC). */
    if (msg->u.challenge.freshness_token.length == 0) {
        ret = hook_fail(EINVAL, "the KDC's challenge has an empty token");
        goto cleanup;
    }
    msg->u.challenge.freshness_token.data
        [msg->u.challenge.freshness_token.length - 1] ^= 0x01;
    ret = set_devreg_value(pa, msg);
    if (!ret)
        ret = der_encode(ASN1_ITEM_rptr(TAMPER_METHOD_DATA),
                         (ASN1_VALUE *)md, &new_edata);
    if (ret) {
        hook_fail(ret, "re-encoding the challenge");
        goto cleanup;
    }
    saved = err->e_data;
    err->e_data = new_edata;
    ret = krb5_mk_error(ctx, err, &enc);
    err->e_data = saved;
    if (!ret)
        ret = krb5_copy_data(ctx, &enc, new_reply_out);
    if (ret) {
        hook_fail(ret, "re-encoding the KDC's error");
        goto cleanup;
    }
    printf("tampered: flipped the last byte of the freshness token\n");
    fflush(stdout);
    tampered++;

cleanup:
    krb5_free_data_contents(ctx, &enc);
    free(new_edata.data);
    ks_devreg_message_free(msg);
    ASN1_item_free((ASN1_VALUE *)md, ASN1_ITEM_rptr(TAMPER_METHOD_DATA));
    krb5_free_error(ctx, err);
    return ret;
}

static krb5_error_code KRB5_CALLCONV
recv_hook(krb5_context c, void *data, krb5_error_code code,
          const krb5_data *realm, const krb5_data *message,
          const krb5_data *reply, krb5_data **new_reply_out)
{
    if (code != 0 || reply == NULL)
        return code;
    if (mode != MODE_STALE && mode != MODE_BAD_TOKEN)
        return 0;
    return tamper_challenge(reply, new_reply_out);
}

/* ---- send hook: the device's request ------------------------------------ */

/* Empty the freshness token of an anonymous registration request. */
static krb5_error_code
empty_token(struct ks_devreg_message *msg)
{
    TAMPER_AUTH_PACK *ap = NULL;
    krb5_data der;
    krb5_error_code ret;

    if (msg->type != KS_DEVREG_MSG_REGISTER)
        return 0;
    if (msg->u.reg.mode != KS_DEVREG_MODE_ANONYMOUS)
        return hook_fail(EINVAL, "empty-token rewrites anonymous "
                         "registrations only (a staged one is signed)");
    ap = (TAMPER_AUTH_PACK *)
        der_decode(ASN1_ITEM_rptr(TAMPER_AUTH_PACK),
                   (unsigned char *)msg->u.reg.auth_pack.data,
                   msg->u.reg.auth_pack.length);
    if (ap == NULL)
        return hook_fail(ASN1_PARSE_ERROR, "decoding the auth pack");
    if (!ASN1_OCTET_STRING_set(ap->freshness_token,
                               (const unsigned char *)"", 0)) {
        ret = hook_fail(ENOMEM, "emptying the token");
        goto cleanup;
    }
    ret = der_encode(ASN1_ITEM_rptr(TAMPER_AUTH_PACK), (ASN1_VALUE *)ap,
                     &der);
    if (ret) {
        hook_fail(ret, "re-encoding the auth pack");
        goto cleanup;
    }
    free(msg->u.reg.auth_pack.data);
    msg->u.reg.auth_pack = der;
    printf("tampered: sent the registration with an empty freshness "
           "token\n");
    fflush(stdout);
    tampered++;

cleanup:
    ASN1_item_free((ASN1_VALUE *)ap, ASN1_ITEM_rptr(TAMPER_AUTH_PACK));
    return ret;
}

/* Replace a login's AP-REQ with one made with imp_creds over body. */
static krb5_error_code
impersonate(struct ks_devreg_message *msg, const ASN1_TYPE *req_body)
{
    krb5_auth_context ac = NULL;
    unsigned char *body_der = NULL;
    krb5_data body, ap_req;
    char *copy;
    int len;
    krb5_error_code ret;

    memset(&ap_req, 0, sizeof(ap_req));
    if (msg->type != KS_DEVREG_MSG_LOGIN)
        return 0;
    /* The exact KDC-REQ-BODY bytes that the KDC checks the checksum on. */
    len = i2d_ASN1_TYPE(req_body, &body_der);
    if (len <= 0)
        return hook_fail(ASN1_BAD_FORMAT, "encoding the request body");
    body.magic = KV5M_DATA;
    body.data = (char *)body_der;
    body.length = len;
    ret = krb5_auth_con_init(ctx, &ac);
    if (!ret)
        ret = krb5_mk_req_extended(ctx, &ac, 0, &body, imp_creds, &ap_req);
    if (ret) {
        hook_fail(ret, "making the AP-REQ with the other device's "
                  "credential");
        goto cleanup;
    }
    copy = malloc(ap_req.length);
    if (copy == NULL) {
        ret = hook_fail(ENOMEM, "copying the AP-REQ");
        goto cleanup;
    }
    memcpy(copy, ap_req.data, ap_req.length);
    free(msg->u.login.ap_req.data);
    msg->u.login.ap_req.data = copy;
    msg->u.login.ap_req.length = ap_req.length;
    printf("tampered: the login carries the other device's ticket and "
           "authenticator\n");
    fflush(stdout);
    tampered++;

cleanup:
    krb5_free_data_contents(ctx, &ap_req);
    krb5_auth_con_free(ctx, ac);
    OPENSSL_free(body_der);
    return ret;
}

static krb5_error_code KRB5_CALLCONV
send_hook(krb5_context c, void *data, const krb5_data *realm,
          const krb5_data *message, krb5_data **new_message_out,
          krb5_data **new_reply_out)
{
    TAMPER_KDC_REQ *req = NULL;
    TAMPER_PA_DATA *pa;
    struct ks_devreg_message *msg = NULL;
    unsigned int before = tampered;
    krb5_data enc;
    krb5_error_code ret = 0;

    memset(&enc, 0, sizeof(enc));
    if (mode != MODE_EMPTY_TOKEN && mode != MODE_IMPERSONATE)
        return 0;
    req = (TAMPER_KDC_REQ *)
        der_decode(ASN1_ITEM_rptr(TAMPER_AS_REQ),
                   (unsigned char *)message->data, message->length);
    if (req == NULL)
        return 0;               /* not an AS-REQ */
    pa = find_devreg(req->padata);
    if (pa == NULL)
        goto cleanup;
    if (ks_devreg_message_decode(pa->value->data, pa->value->length,
                                 &msg) != 0) {
        ret = hook_fail(ASN1_PARSE_ERROR, "decoding the client's devreg "
                        "message");
        goto cleanup;
    }
    if (mode == MODE_EMPTY_TOKEN)
        ret = empty_token(msg);
    else
        ret = impersonate(msg, req->req_body);
    if (ret || tampered == before)
        goto cleanup;
    ret = set_devreg_value(pa, msg);
    if (!ret)
        ret = der_encode(ASN1_ITEM_rptr(TAMPER_AS_REQ), (ASN1_VALUE *)req,
                         &enc);
    if (!ret)
        ret = krb5_copy_data(ctx, &enc, new_message_out);
    if (ret)
        hook_fail(ret, "re-encoding the AS-REQ");

cleanup:
    free(enc.data);
    ks_devreg_message_free(msg);
    ASN1_item_free((ASN1_VALUE *)req, ASN1_ITEM_rptr(TAMPER_AS_REQ));
    return ret;
}

/* ---- credentials -------------------------------------------------------- */

/* devreg/REALM@REALM for the realm of princ. */
static krb5_error_code
devreg_name(krb5_const_principal princ, krb5_principal *out)
{
    return krb5_build_principal_ext(ctx, out, princ->realm.length,
                                    princ->realm.data, 6, "devreg",
                                    princ->realm.length, princ->realm.data,
                                    0);
}

/* The registration credential (devreg/REALM ticket) of ccname's
 * principal, into *creds_out (free with krb5_free_creds). */
static krb5_error_code
get_reg_creds(const char *ccname, krb5_creds **creds_out)
{
    krb5_ccache cc = NULL;
    krb5_principal me = NULL, server = NULL;
    krb5_creds mcreds, *creds = NULL;
    krb5_error_code ret;

    *creds_out = NULL;
    memset(&mcreds, 0, sizeof(mcreds));
    ret = krb5_cc_resolve(ctx, ccname, &cc);
    if (!ret)
        ret = krb5_cc_get_principal(ctx, cc, &me);
    if (!ret)
        ret = devreg_name(me, &server);
    if (ret)
        goto cleanup;
    creds = calloc(1, sizeof(*creds));
    if (creds == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    mcreds.client = me;
    mcreds.server = server;
    ret = krb5_cc_retrieve_cred(ctx, cc, 0, &mcreds, creds);
    if (ret) {
        free(creds);
        goto cleanup;
    }
    *creds_out = creds;

cleanup:
    krb5_free_principal(ctx, me);
    krb5_free_principal(ctx, server);
    if (cc != NULL)
        krb5_cc_close(ctx, cc);
    return ret;
}

/* Store creds alone in ccname, initialized for creds->client. */
static krb5_error_code
store_creds(const char *ccname, krb5_creds *creds)
{
    krb5_ccache cc = NULL;
    krb5_error_code ret;

    ret = krb5_cc_resolve(ctx, ccname, &cc);
    if (!ret)
        ret = krb5_cc_initialize(ctx, cc, creds->client);
    if (!ret)
        ret = krb5_cc_store_cred(ctx, cc, creds);
    if (cc != NULL)
        krb5_cc_close(ctx, cc);
    return ret;
}

/* ---- commands ----------------------------------------------------------- */

/*
 * An AS exchange for client into out_ccname: a registration (service
 * devreg/REALM@REALM, REGISTRATION_LIFE) with the -X attributes attrs
 * (ATTR=VALUE), or a login with devreg_ticket=reg_ccname.  Returns the exit
 * status.
 */
static int
exchange(const char *client_name, const char *out_ccname, char **attrs,
         int nattrs, const char *reg_ccname)
{
    krb5_get_init_creds_opt *opt = NULL;
    krb5_principal client = NULL, server = NULL;
    krb5_ccache out = NULL;
    krb5_creds creds;
    char *service = NULL, *attr = NULL, *eq;
    krb5_error_code ret;
    int i, status = 3;

    memset(&creds, 0, sizeof(creds));
    ret = krb5_parse_name(ctx, client_name, &client);
    if (ret) {
        report(ret, "parsing the client name");
        return 2;
    }
    ret = krb5_get_init_creds_opt_alloc(ctx, &opt);
    if (!ret)
        ret = krb5_cc_resolve(ctx, out_ccname, &out);
    if (!ret)
        ret = krb5_get_init_creds_opt_set_out_ccache(ctx, opt, out);
    if (ret) {
        report(ret, "setting up the request");
        goto cleanup;
    }
    if (reg_ccname != NULL) {
        ret = krb5_get_init_creds_opt_set_pa(ctx, opt, "devreg_ticket",
                                             reg_ccname);
    } else {
        krb5_get_init_creds_opt_set_tkt_life(opt, REGISTRATION_LIFE);
        ret = devreg_name(client, &server);
        if (!ret)
            ret = krb5_unparse_name(ctx, server, &service);
    }
    for (i = 0; !ret && i < nattrs; i++) {
        free(attr);
        attr = strdup(attrs[i]);
        if (attr == NULL) {
            ret = ENOMEM;
            break;
        }
        eq = strchr(attr, '=');
        if (eq == NULL) {
            fprintf(stderr, "devreg_tamper: '%s' is not ATTR=VALUE\n",
                    attrs[i]);
            status = 2;
            goto cleanup;
        }
        *eq = '\0';
        ret = krb5_get_init_creds_opt_set_pa(ctx, opt, attr, eq + 1);
    }
    if (ret) {
        report(ret, "setting the -X attributes");
        goto cleanup;
    }

    ret = krb5_get_init_creds_password(ctx, &creds, client, NULL, NULL,
                                       NULL, 0, service, opt);
    if (hook_ret) {
        report(hook_ret, hook_what);
        status = 3;
    } else if (mode != MODE_NONE && tampered == 0) {
        const char *msg = ret ? krb5_get_error_message(ctx, ret) : NULL;

        fprintf(stderr, "devreg_tamper: nothing was tampered with (no "
                "devreg message of the expected kind went by)%s%s\n",
                msg != NULL ? "; the exchange failed: " : "",
                msg != NULL ? msg : "");
        krb5_free_error_message(ctx, msg);
        status = 3;
    } else if (ret) {
        const char *msg = krb5_get_error_message(ctx, ret);

        /* What stock kinit (1.20) prints for the same failure, so that
         * tests judge what a kinit user sees: kinit replaces the message
         * of KRB5KRB_AP_ERR_BAD_INTEGRITY with "Password incorrect".  The
         * library's own message follows on a line of its own. */
        if (ret == KRB5KRB_AP_ERR_BAD_INTEGRITY)
            fprintf(stderr, "devreg_tamper: Password incorrect while "
                    "getting initial credentials\n");
        else
            fprintf(stderr, "devreg_tamper: %s while getting initial "
                    "credentials\n", msg);
        fprintf(stderr, "devreg_tamper: (library: error %ld: %s)\n",
                (long)ret, msg);
        krb5_free_error_message(ctx, msg);
        status = 1;
    } else {
        printf("got %s for %s\n", service != NULL ? service : "a TGT",
               client_name);
        status = 0;
    }

cleanup:
    krb5_free_cred_contents(ctx, &creds);
    free(attr);
    krb5_free_unparsed_name(ctx, service);
    krb5_free_principal(ctx, server);
    krb5_free_principal(ctx, client);
    if (out != NULL)
        krb5_cc_close(ctx, out);
    krb5_get_init_creds_opt_free(ctx, opt);
    return status;
}

/* impersonate REG_CCACHE CLIENT OUT_CCACHE */
static int
cmd_impersonate(const char *reg_ccname, const char *client_name,
                const char *out_ccname)
{
    static const char memcc[] = "MEMORY:devreg_tamper_impersonate";
    krb5_creds *renamed = NULL;
    krb5_principal client = NULL;
    krb5_error_code ret;
    int status = 3;

    ret = get_reg_creds(reg_ccname, &imp_creds);
    if (ret) {
        report(ret, "reading the registration credential");
        return 3;
    }
    ret = krb5_parse_name(ctx, client_name, &client);
    if (ret) {
        report(ret, "parsing the client name");
        goto cleanup;
    }
    /* The client module looks the credential up under the client being
     * logged in, so it gets a renamed copy; the AP-REQ it makes from the
     * copy is then replaced with one from the real credential. */
    ret = krb5_copy_creds(ctx, imp_creds, &renamed);
    if (!ret) {
        krb5_free_principal(ctx, renamed->client);
        renamed->client = client;
        client = NULL;
        ret = store_creds(memcc, renamed);
    }
    if (ret) {
        report(ret, "preparing the client module's credential");
        goto cleanup;
    }
    mode = MODE_IMPERSONATE;
    status = exchange(client_name, out_ccname, NULL, 0, memcc);

cleanup:
    krb5_free_principal(ctx, client);
    krb5_free_creds(ctx, renamed);
    krb5_free_creds(ctx, imp_creds);
    imp_creds = NULL;
    return status;
}

/* flip-ticket IN_CCACHE OUT_CCACHE */
static int
cmd_flip_ticket(const char *in_ccname, const char *out_ccname)
{
    krb5_creds *creds = NULL;
    krb5_ticket *tkt = NULL;
    unsigned int clen, pos;
    krb5_error_code ret;
    int status = 3;

    ret = get_reg_creds(in_ccname, &creds);
    if (ret) {
        report(ret, "reading the registration credential");
        return 3;
    }
    ret = krb5_decode_ticket(&creds->ticket, &tkt);
    if (ret) {
        report(ret, "decoding the ticket");
        goto cleanup;
    }
    /* The ciphertext is the ticket's last field, so its bytes end the DER;
     * check that before flipping one in its middle. */
    clen = tkt->enc_part.ciphertext.length;
    if (clen == 0 || clen > creds->ticket.length ||
        memcmp(creds->ticket.data + creds->ticket.length - clen,
               tkt->enc_part.ciphertext.data, clen) != 0) {
        fprintf(stderr, "devreg_tamper: the ticket's ciphertext is not at "
                "its end\n");
        goto cleanup;
    }
    pos = creds->ticket.length - clen + clen / 2;
    creds->ticket.data[pos] ^= 0x01;
    ret = store_creds(out_ccname, creds);
    if (ret) {
        report(ret, "storing the tampered credential");
        goto cleanup;
    }
    printf("tampered: flipped byte %u of the %u-byte ticket (inside its "
           "%u-byte ciphertext)\n", pos, creds->ticket.length, clen);
    status = 0;

cleanup:
    krb5_free_ticket(ctx, tkt);
    krb5_free_creds(ctx, creds);
    return status;
}

/* rename IN_CCACHE OUT_CCACHE NEW_CLIENT */
static int
cmd_rename(const char *in_ccname, const char *out_ccname,
           const char *new_client)
{
    krb5_creds *creds = NULL;
    krb5_principal client = NULL;
    krb5_error_code ret;

    ret = get_reg_creds(in_ccname, &creds);
    if (ret) {
        report(ret, "reading the registration credential");
        return 3;
    }
    ret = krb5_parse_name(ctx, new_client, &client);
    if (ret) {
        report(ret, "parsing the new client name");
        krb5_free_creds(ctx, creds);
        return 2;
    }
    krb5_free_principal(ctx, creds->client);
    creds->client = client;
    ret = store_creds(out_ccname, creds);
    krb5_free_creds(ctx, creds);
    if (ret) {
        report(ret, "storing the renamed credential");
        return 3;
    }
    printf("tampered: stored the registration credential as %s's\n",
           new_client);
    return 0;
}

/* keyhash CCACHE SERVER */
static int
cmd_keyhash(const char *ccname, const char *server_name)
{
    krb5_ccache cc = NULL;
    krb5_creds mcreds, creds;
    krb5_principal me = NULL, server = NULL;
    unsigned char md[KS_SHA256_LEN];
    char hex[2 * KS_SHA256_LEN + 1];
    unsigned int mdlen = 0;
    krb5_error_code ret;
    int status = 3;

    memset(&mcreds, 0, sizeof(mcreds));
    memset(&creds, 0, sizeof(creds));
    ret = krb5_cc_resolve(ctx, ccname, &cc);
    if (!ret)
        ret = krb5_cc_get_principal(ctx, cc, &me);
    if (!ret)
        ret = krb5_parse_name(ctx, server_name, &server);
    if (!ret) {
        mcreds.client = me;
        mcreds.server = server;
        ret = krb5_cc_retrieve_cred(ctx, cc, 0, &mcreds, &creds);
    }
    if (ret) {
        report(ret, "finding the ticket");
        goto cleanup;
    }
    if (EVP_Digest(creds.keyblock.contents, creds.keyblock.length, md,
                   &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen != KS_SHA256_LEN) {
        fprintf(stderr, "devreg_tamper: SHA-256 failed\n");
        goto cleanup;
    }
    ks_hex(md, sizeof(md), hex);
    printf("%s\n", hex);
    status = 0;

cleanup:
    krb5_free_cred_contents(ctx, &creds);   /* zeroes the key */
    krb5_free_principal(ctx, me);
    krb5_free_principal(ctx, server);
    if (cc != NULL)
        krb5_cc_close(ctx, cc);
    return status;
}

static int
usage(void)
{
    fprintf(stderr,
            "usage: devreg_tamper register CLIENT OUT_CCACHE ATTR=VALUE...\n"
            "       devreg_tamper stale-token SECONDS CLIENT OUT_CCACHE "
            "ATTR=VALUE...\n"
            "       devreg_tamper bad-token CLIENT OUT_CCACHE ATTR=VALUE...\n"
            "       devreg_tamper empty-token CLIENT OUT_CCACHE "
            "ATTR=VALUE...\n"
            "       devreg_tamper login [-t OFFSET] REG_CCACHE CLIENT "
            "OUT_CCACHE\n"
            "       devreg_tamper impersonate REG_CCACHE CLIENT OUT_CCACHE\n"
            "       devreg_tamper flip-ticket IN_CCACHE OUT_CCACHE\n"
            "       devreg_tamper rename IN_CCACHE OUT_CCACHE NEW_CLIENT\n"
            "       devreg_tamper keyhash CCACHE SERVER\n");
    return 2;
}

/* Parse a decimal integer argument in [min, max] into *out; 0 on junk. */
static int
parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return 0;
    *out = v;
    return 1;
}

int
main(int argc, char **argv)
{
    const char *cmd;
    long v;
    int status;

    if (argc < 2)
        return usage();
    cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        usage();
        return 0;
    }
    if (krb5_init_context(&ctx) != 0) {
        fprintf(stderr, "devreg_tamper: cannot initialize krb5\n");
        return 3;
    }
    krb5_set_kdc_send_hook(ctx, send_hook, NULL);
    krb5_set_kdc_recv_hook(ctx, recv_hook, NULL);

    if (strcmp(cmd, "register") == 0 && argc >= 4) {
        status = exchange(argv[2], argv[3], argv + 4, argc - 4, NULL);
    } else if (strcmp(cmd, "stale-token") == 0 && argc >= 5) {
        if (!parse_long(argv[2], 1, 3600, &v)) {
            status = usage();
        } else {
            mode = MODE_STALE;
            stale_seconds = (unsigned int)v;
            status = exchange(argv[3], argv[4], argv + 5, argc - 5, NULL);
        }
    } else if (strcmp(cmd, "bad-token") == 0 && argc >= 4) {
        mode = MODE_BAD_TOKEN;
        status = exchange(argv[2], argv[3], argv + 4, argc - 4, NULL);
    } else if (strcmp(cmd, "empty-token") == 0 && argc >= 4) {
        mode = MODE_EMPTY_TOKEN;
        status = exchange(argv[2], argv[3], argv + 4, argc - 4, NULL);
    } else if (strcmp(cmd, "login") == 0 && argc == 5) {
        status = exchange(argv[3], argv[4], NULL, 0, argv[2]);
    } else if (strcmp(cmd, "login") == 0 && argc == 7 &&
               strcmp(argv[2], "-t") == 0) {
        if (!parse_long(argv[3], -10L * 365 * 86400, 10L * 365 * 86400,
                        &v)) {
            status = usage();
        } else {
            /* The library's clock for this context (krb5_timeofday): the
             * client module's AP-REQ and its expiry check use it. */
            krb5_error_code ret = krb5_set_real_time(ctx, time(NULL) + v,
                                                     0);

            if (ret) {
                report(ret, "moving the clock");
                status = 3;
            } else {
                status = exchange(argv[5], argv[6], NULL, 0, argv[4]);
            }
        }
    } else if (strcmp(cmd, "impersonate") == 0 && argc == 5) {
        status = cmd_impersonate(argv[2], argv[3], argv[4]);
    } else if (strcmp(cmd, "flip-ticket") == 0 && argc == 4) {
        status = cmd_flip_ticket(argv[2], argv[3]);
    } else if (strcmp(cmd, "rename") == 0 && argc == 5) {
        status = cmd_rename(argv[2], argv[3], argv[4]);
    } else if (strcmp(cmd, "keyhash") == 0 && argc == 4) {
        status = cmd_keyhash(argv[2], argv[3]);
    } else {
        status = usage();
    }
    krb5_free_context(ctx);
    return status;
}
