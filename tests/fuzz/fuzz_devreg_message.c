/*
 * Fuzz target: the devreg decoders of lib/ks_asn1.h on untrusted bytes.
 *
 * Input: one DER value, offered to every decoder in turn: DevregMessage,
 * DevregAuthPack, DevregDHInfo, FreshnessPlain, KRB5PrincipalName and
 * AuthorizationData.  The octet strings inside a decoded message go to the
 * decoder of what they carry in the protocol (DevregRegister.auth-pack to
 * DevregAuthPack, DevregReply.signed-dh-info to DevregDHInfo,
 * DevregChallenge.freshness-token to FreshnessPlain: in real use the CMS
 * or krb5 wrapping comes off first) and DevregLogin.ap-req to
 * AuthorizationData, which the AP-REQ's ticket carries.
 *
 * Besides memory errors, the target aborts when a decoder breaks the
 * rules of ks_asn1.h: whatever decodes must encode again, to exactly the
 * input bytes (only canonical DER is accepted), and decode(encode(x))
 * must give x back; decoded fields must respect the documented caps.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <krb5/krb5.h>

#include "ks_asn1.h"

#define FUZZ_MAX_INPUT (KS_ASN1_MAX_INPUT + 16)

static krb5_context ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    setenv("KRB5_CONFIG", "/dev/null", 1);
    if (krb5_init_context(&ctx) != 0)
        abort();
    return 0;
}

/* Abort unless the len bytes at a equal the len2 bytes at b. */
static void
check_same(const void *a, size_t len, const void *b, size_t len2)
{
    if (len != len2 || (len > 0 && memcmp(a, b, len) != 0))
        abort();
}

static void
check_data(const krb5_data *a, const krb5_data *b)
{
    check_same(a->data, a->length, b->data, b->length);
}

/* Abort unless two messages hold the same values. */
static void
check_message_eq(const struct ks_devreg_message *a,
                 const struct ks_devreg_message *b)
{
    if (a->type != b->type)
        abort();
    switch (a->type) {
    case KS_DEVREG_MSG_CHALLENGE:
        check_data(&a->u.challenge.freshness_token,
                   &b->u.challenge.freshness_token);
        check_same(a->u.challenge.groups,
                   a->u.challenge.ngroups * sizeof(int32_t),
                   b->u.challenge.groups,
                   b->u.challenge.ngroups * sizeof(int32_t));
        if (!a->u.challenge.anonymous_ok != !b->u.challenge.anonymous_ok)
            abort();
        break;
    case KS_DEVREG_MSG_REGISTER:
        if (a->u.reg.mode != b->u.reg.mode)
            abort();
        check_data(&a->u.reg.auth_pack, &b->u.reg.auth_pack);
        break;
    case KS_DEVREG_MSG_REPLY:
        check_data(&a->u.reply.signed_dh_info, &b->u.reply.signed_dh_info);
        break;
    case KS_DEVREG_MSG_LOGIN:
        check_data(&a->u.login.ap_req, &b->u.login.ap_req);
        break;
    case KS_DEVREG_MSG_ERROR:
        if (a->u.error.code != b->u.error.code)
            abort();
        if ((a->u.error.text == NULL) != (b->u.error.text == NULL))
            abort();
        if (a->u.error.text != NULL &&
            strcmp(a->u.error.text, b->u.error.text) != 0)
            abort();
        break;
    default:
        abort();
    }
}

/* Abort if a decoded message breaks the caps of ks_asn1.h. */
static void
check_message_caps(const struct ks_devreg_message *m)
{
    size_t i;

    switch (m->type) {
    case KS_DEVREG_MSG_CHALLENGE:
        if (m->u.challenge.freshness_token.length < 1 ||
            m->u.challenge.freshness_token.length > KS_DEVREG_MAX_TOKEN ||
            m->u.challenge.ngroups < 1 ||
            m->u.challenge.ngroups > KS_DEVREG_MAX_GROUPS)
            abort();
        for (i = 0; i < m->u.challenge.ngroups; i++) {
            if (m->u.challenge.groups[i] <= 0)
                abort();
        }
        break;
    case KS_DEVREG_MSG_REGISTER:
        if ((m->u.reg.mode != KS_DEVREG_MODE_STAGED &&
             m->u.reg.mode != KS_DEVREG_MODE_ANONYMOUS) ||
            m->u.reg.auth_pack.length < 1 ||
            m->u.reg.auth_pack.length > KS_DEVREG_MAX_CMS)
            abort();
        break;
    case KS_DEVREG_MSG_REPLY:
        if (m->u.reply.signed_dh_info.length < 1 ||
            m->u.reply.signed_dh_info.length > KS_DEVREG_MAX_CMS)
            abort();
        break;
    case KS_DEVREG_MSG_LOGIN:
        if (m->u.login.ap_req.length < 1 ||
            m->u.login.ap_req.length > KS_DEVREG_MAX_AP_REQ)
            abort();
        break;
    case KS_DEVREG_MSG_ERROR:
        if (m->u.error.text != NULL &&
            strlen(m->u.error.text) > KS_DEVREG_MAX_TEXT)
            abort();
        (void)ks_devreg_error_message(m->u.error.code);
        break;
    default:
        abort();
    }
}

/* DevregAuthPack: decode, and if it decodes, check the round trip. */
static void
fuzz_auth_pack(const unsigned char *der, size_t len)
{
    struct ks_devreg_auth_pack *ap = NULL, *back = NULL;
    unsigned char *again = NULL;
    size_t againlen = 0;

    if (ks_devreg_auth_pack_decode(der, len, &ap) != 0)
        return;
    if (ap->group == KS_DEVREG_GROUP_X25519 ?
        ap->client_public.length != KS_DEVREG_X25519_PUBLIC_LEN :
        (ap->group != KS_DEVREG_GROUP_P256 ||
         ap->client_public.length != KS_DEVREG_P256_PUBLIC_LEN ||
         (unsigned char)ap->client_public.data[0] != 0x04))
        abort();
    if (ks_devreg_auth_pack_encode(ap, &again, &againlen) != 0)
        abort();
    check_same(again, againlen, der, len);
    if (ks_devreg_auth_pack_decode(again, againlen, &back) != 0)
        abort();
    check_data(&ap->freshness_token, &back->freshness_token);
    check_same(ap->req_body_hash, KS_SHA256_LEN, back->req_body_hash,
               KS_SHA256_LEN);
    check_data(&ap->client_public, &back->client_public);
    if (ap->ctime != back->ctime || ap->ctime < 0 || ap->group != back->group)
        abort();
    free(again);
    ks_devreg_auth_pack_free(back);
    ks_devreg_auth_pack_free(ap);
}

/* DevregDHInfo: decode, and if it decodes, check the round trip. */
static void
fuzz_dh_info(const unsigned char *der, size_t len)
{
    struct ks_devreg_dh_info *dh = NULL, *back = NULL;
    unsigned char *again = NULL;
    size_t againlen = 0;

    if (ks_devreg_dh_info_decode(der, len, &dh) != 0)
        return;
    if (ks_devreg_dh_info_encode(dh, &again, &againlen) != 0)
        abort();
    check_same(again, againlen, der, len);
    if (ks_devreg_dh_info_decode(again, againlen, &back) != 0)
        abort();
    check_same(dh->auth_pack_hash, KS_SHA256_LEN, back->auth_pack_hash,
               KS_SHA256_LEN);
    check_data(&dh->kdc_public, &back->kdc_public);
    if (dh->group != back->group)
        abort();
    free(again);
    ks_devreg_dh_info_free(back);
    ks_devreg_dh_info_free(dh);
}

/* FreshnessPlain: decode, and if it decodes, check the round trip. */
static void
fuzz_freshness(const unsigned char *der, size_t len)
{
    struct ks_freshness_plain *fp = NULL, *back = NULL;
    unsigned char *again = NULL;
    size_t againlen = 0;

    if (ks_freshness_plain_decode(der, len, &fp) != 0)
        return;
    if (fp->client == NULL || *fp->client == '\0' ||
        strlen(fp->client) > KS_DEVREG_MAX_CLIENT || fp->kdc_time < 0)
        abort();
    if (ks_freshness_plain_encode(fp, &again, &againlen) != 0)
        abort();
    check_same(again, againlen, der, len);
    if (ks_freshness_plain_decode(again, againlen, &back) != 0)
        abort();
    if (back->kdc_time != fp->kdc_time ||
        strcmp(back->client, fp->client) != 0)
        abort();
    free(again);
    ks_freshness_plain_free(back);
    ks_freshness_plain_free(fp);
}

/* KRB5PrincipalName: decode, and if it decodes, check the round trip. */
static void
fuzz_principal(const unsigned char *der, size_t len)
{
    krb5_principal p = NULL, back = NULL;
    unsigned char *again = NULL;
    size_t againlen = 0;

    if (ks_krb5_principal_name_decode(ctx, der, len, &p) != 0)
        return;
    if (p->length < 1 || p->length > KS_PRINC_MAX_COMPONENTS ||
        p->realm.length < 1 || p->realm.length > KS_PRINC_MAX_STRING)
        abort();
    if (ks_krb5_principal_name_der(ctx, p, &again, &againlen) != 0)
        abort();
    check_same(again, againlen, der, len);
    if (ks_krb5_principal_name_decode(ctx, again, againlen, &back) != 0)
        abort();
    if (!krb5_principal_compare(ctx, p, back) || p->type != back->type)
        abort();
    free(again);
    krb5_free_principal(ctx, back);
    krb5_free_principal(ctx, p);
}

/* AuthorizationData: decode, and if it decodes, check the round trip. */
static void
fuzz_authdata(const unsigned char *der, size_t len)
{
    krb5_authdata **ad = NULL, **back = NULL;
    unsigned char *again = NULL;
    size_t againlen = 0, i;

    if (ks_authdata_decode(der, len, &ad) != 0)
        return;
    if (ks_authdata_encode(ad, &again, &againlen) != 0)
        abort();
    check_same(again, againlen, der, len);
    if (ks_authdata_decode(again, againlen, &back) != 0)
        abort();
    for (i = 0; ad[i] != NULL; i++) {
        if (back[i] == NULL || back[i]->ad_type != ad[i]->ad_type)
            abort();
        check_same(ad[i]->contents, ad[i]->length, back[i]->contents,
                   back[i]->length);
    }
    if (back[i] != NULL)
        abort();
    free(again);
    krb5_free_authdata(ctx, back);
    krb5_free_authdata(ctx, ad);
}

/* DevregMessage: decode, check the round trip, and feed the nested
 * octet strings to the decoders of what they carry. */
static void
fuzz_message(const unsigned char *der, size_t len)
{
    struct ks_devreg_message *m = NULL, *back = NULL;
    unsigned char *again = NULL;
    size_t againlen = 0;

    if (ks_devreg_message_decode(der, len, &m) != 0)
        return;
    check_message_caps(m);
    if (ks_devreg_message_encode(m, &again, &againlen) != 0)
        abort();
    check_same(again, againlen, der, len);
    if (ks_devreg_message_decode(again, againlen, &back) != 0)
        abort();
    check_message_eq(m, back);
    switch (m->type) {
    case KS_DEVREG_MSG_CHALLENGE:
        fuzz_freshness((unsigned char *)m->u.challenge.freshness_token.data,
                       m->u.challenge.freshness_token.length);
        break;
    case KS_DEVREG_MSG_REGISTER:
        fuzz_auth_pack((unsigned char *)m->u.reg.auth_pack.data,
                       m->u.reg.auth_pack.length);
        break;
    case KS_DEVREG_MSG_REPLY:
        fuzz_dh_info((unsigned char *)m->u.reply.signed_dh_info.data,
                     m->u.reply.signed_dh_info.length);
        break;
    case KS_DEVREG_MSG_LOGIN:
        fuzz_authdata((unsigned char *)m->u.login.ap_req.data,
                      m->u.login.ap_req.length);
        break;
    default:
        break;
    }
    free(again);
    ks_devreg_message_free(back);
    ks_devreg_message_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *copy;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    /* An exact-size copy, so that ASan sees any read past the input. */
    copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    if (size > 0)
        memcpy(copy, data, size);
    fuzz_message(copy, size);
    fuzz_auth_pack(copy, size);
    fuzz_dh_info(copy, size);
    fuzz_freshness(copy, size);
    fuzz_principal(copy, size);
    fuzz_authdata(copy, size);
    free(copy);
    return 0;
}
