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
 * the project's codecs (ks_devreg_message_decode/encode) and OpenSSL ASN.1
 * templates: tamper_common.h's for the Kerberos structures krb5 does not
 * expose (METHOD-DATA, AS-REQ), the one below for an auth pack the
 * project's strict encoder refuses (an empty token); no DER is written by
 * hand.  The exit statuses, reporting and hook plumbing are
 * tamper_common.h's, shared with tempkey_tamper.
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

#include "ks_asn1.h"
#include "ks_iana.h"
#include "ks_util.h"
#include "tamper_common.h"

/* The lifetime registrations ask for (kinit -l 30d): the KDC caps it at
 * registration_max_life. */
#define REGISTRATION_LIFE (30 * 86400)

/* Stale mode: sleep for at most this many challenges, in case the client
 * keeps retrying with new ones. */
#define MAX_STALE_CHALLENGES 4

/* ---- ASN.1 template (doc/devreg-protocol.md) --------------------------- */

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

static krb5_context ctx;                /* tamper_init()'s */
static enum tamper_mode mode = MODE_NONE;
static unsigned int stale_seconds;
static krb5_creds *imp_creds;           /* impersonate: the real credential */

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
    ret = tamper_set_padata_value(pa, der, len);
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
    STACK_OF(TAMPER_PA_DATA) *md;
    TAMPER_PA_DATA *pa;
    struct ks_devreg_message *msg = NULL;
    krb5_error_code ret = 0;

    /* Anything else (an AS-REP, an error without devreg) passes
     * untouched. */
    md = tamper_error_padata(reply, &err);
    pa = tamper_find_padata(md, KS_PA_DEVREG);
    if (pa == NULL)
        goto cleanup;
    if (ks_devreg_message_decode(pa->value->data, pa->value->length,
                                 &msg) != 0 ||
        msg->type != KS_DEVREG_MSG_CHALLENGE)
        goto cleanup;

    if (mode == MODE_STALE) {
        if (tamper_count() >= MAX_STALE_CHALLENGES) {
            ret = tamper_hook_fail(KRB5_PREAUTH_FAILED, "the client kept "
                                   "asking for new challenges");
            goto cleanup;
        }
        /* The token was made when the KDC sent this reply. */
        tamper_done("tampered: waiting %u s before answering the challenge",
                    stale_seconds);
        sleep(stale_seconds);
        goto cleanup;
    }

    /* Bad token: flip its last byte (inside the ciphertext's MAC). */
    if (msg->u.challenge.freshness_token.length == 0) {
        ret = tamper_hook_fail(EINVAL, "the KDC's challenge has an empty "
                               "token");
        goto cleanup;
    }
    msg->u.challenge.freshness_token.data
        [msg->u.challenge.freshness_token.length - 1] ^= 0x01;
    ret = set_devreg_value(pa, msg);
    if (ret) {
        tamper_hook_fail(ret, "re-encoding the challenge");
        goto cleanup;
    }
    ret = tamper_rebuild_error(err, md, new_reply_out);
    if (ret)
        goto cleanup;
    tamper_done("tampered: flipped the last byte of the freshness token");

cleanup:
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
        return tamper_hook_fail(EINVAL, "empty-token rewrites anonymous "
                                "registrations only (a staged one is "
                                "signed)");
    ap = (TAMPER_AUTH_PACK *)
        tamper_der_decode(ASN1_ITEM_rptr(TAMPER_AUTH_PACK),
                          (unsigned char *)msg->u.reg.auth_pack.data,
                          msg->u.reg.auth_pack.length);
    if (ap == NULL)
        return tamper_hook_fail(ASN1_PARSE_ERROR, "decoding the auth pack");
    if (!ASN1_OCTET_STRING_set(ap->freshness_token,
                               (const unsigned char *)"", 0)) {
        ret = tamper_hook_fail(ENOMEM, "emptying the token");
        goto cleanup;
    }
    ret = tamper_der_encode(ASN1_ITEM_rptr(TAMPER_AUTH_PACK),
                            (ASN1_VALUE *)ap, &der);
    if (ret) {
        tamper_hook_fail(ret, "re-encoding the auth pack");
        goto cleanup;
    }
    free(msg->u.reg.auth_pack.data);
    msg->u.reg.auth_pack = der;
    tamper_done("tampered: sent the registration with an empty freshness "
                "token");

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
        return tamper_hook_fail(ASN1_BAD_FORMAT, "encoding the request "
                                "body");
    body.magic = KV5M_DATA;
    body.data = (char *)body_der;
    body.length = len;
    ret = krb5_auth_con_init(ctx, &ac);
    if (!ret)
        ret = krb5_mk_req_extended(ctx, &ac, 0, &body, imp_creds, &ap_req);
    if (ret) {
        tamper_hook_fail(ret, "making the AP-REQ with the other device's "
                         "credential");
        goto cleanup;
    }
    copy = malloc(ap_req.length);
    if (copy == NULL) {
        ret = tamper_hook_fail(ENOMEM, "copying the AP-REQ");
        goto cleanup;
    }
    memcpy(copy, ap_req.data, ap_req.length);
    free(msg->u.login.ap_req.data);
    msg->u.login.ap_req.data = copy;
    msg->u.login.ap_req.length = ap_req.length;
    tamper_done("tampered: the login carries the other device's ticket and "
                "authenticator");

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
    TAMPER_KDC_REQ *req;
    TAMPER_PA_DATA *pa;
    struct ks_devreg_message *msg = NULL;
    unsigned int before = tamper_count();
    krb5_error_code ret = 0;

    if (mode != MODE_EMPTY_TOKEN && mode != MODE_IMPERSONATE)
        return 0;
    req = tamper_as_req_padata(message, KS_PA_DEVREG, &pa);
    if (req == NULL)
        return 0;               /* not an AS-REQ */
    if (pa == NULL)
        goto cleanup;
    if (ks_devreg_message_decode(pa->value->data, pa->value->length,
                                 &msg) != 0) {
        ret = tamper_hook_fail(ASN1_PARSE_ERROR, "decoding the client's "
                               "devreg message");
        goto cleanup;
    }
    if (mode == MODE_EMPTY_TOKEN)
        ret = empty_token(msg);
    else
        ret = impersonate(msg, req->req_body);
    if (ret || tamper_count() == before)
        goto cleanup;
    ret = set_devreg_value(pa, msg);
    if (ret)
        tamper_hook_fail(ret, "re-encoding the AS-REQ");
    else
        ret = tamper_replace_as_req(req, new_message_out);

cleanup:
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
    char *service = NULL;
    krb5_error_code ret;
    int status = 3;

    memset(&creds, 0, sizeof(creds));
    ret = krb5_parse_name(ctx, client_name, &client);
    if (ret) {
        tamper_report(ret, "parsing the client name");
        return 2;
    }
    ret = krb5_get_init_creds_opt_alloc(ctx, &opt);
    if (!ret)
        ret = krb5_cc_resolve(ctx, out_ccname, &out);
    if (!ret)
        ret = krb5_get_init_creds_opt_set_out_ccache(ctx, opt, out);
    if (ret) {
        tamper_report(ret, "setting up the request");
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
    if (ret) {
        tamper_report(ret, "setting the -X attributes");
        goto cleanup;
    }
    status = tamper_set_attrs(opt, attrs, nattrs);
    if (status != 0)
        goto cleanup;

    ret = krb5_get_init_creds_password(ctx, &creds, client, NULL, NULL,
                                       NULL, 0, service, opt);
    /* kinit's "Password incorrect" too: the tests compare these lines
     * with stock kinit's. */
    status = tamper_outcome(ret, mode != MODE_NONE, "devreg", TRUE);
    if (status == 0)
        printf("got %s for %s\n", service != NULL ? service : "a TGT",
               client_name);

cleanup:
    krb5_free_cred_contents(ctx, &creds);
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
        tamper_report(ret, "reading the registration credential");
        return 3;
    }
    ret = krb5_parse_name(ctx, client_name, &client);
    if (ret) {
        tamper_report(ret, "parsing the client name");
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
        tamper_report(ret, "preparing the client module's credential");
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
        tamper_report(ret, "reading the registration credential");
        return 3;
    }
    ret = krb5_decode_ticket(&creds->ticket, &tkt);
    if (ret) {
        tamper_report(ret, "decoding the ticket");
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
        tamper_report(ret, "storing the tampered credential");
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
        tamper_report(ret, "reading the registration credential");
        return 3;
    }
    ret = krb5_parse_name(ctx, new_client, &client);
    if (ret) {
        tamper_report(ret, "parsing the new client name");
        krb5_free_creds(ctx, creds);
        return 2;
    }
    krb5_free_principal(ctx, creds->client);
    creds->client = client;
    ret = store_creds(out_ccname, creds);
    krb5_free_creds(ctx, creds);
    if (ret) {
        tamper_report(ret, "storing the renamed credential");
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
        tamper_report(ret, "finding the ticket");
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
    ctx = tamper_init("devreg_tamper", send_hook, recv_hook);
    if (ctx == NULL)
        return 3;

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
                tamper_report(ret, "moving the clock");
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
    tamper_fini();
    return status;
}
