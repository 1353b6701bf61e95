/*
 * ASN.1 codecs (see ks_asn1.h for the rules callers rely on).
 *
 * Every type is an OpenSSL ASN.1 template below; the module is EXPLICIT
 * TAGS like Kerberos' own, so every context tag wraps its field:
 *
 *   DevregMessage   CHOICE { challenge [0], register [1], reply [2],
 *                            login [3], error [4] }
 *   DevregChallenge SEQUENCE { version [0] INTEGER, freshness-token [1]
 *                   OCTET STRING, groups [2] SEQUENCE OF INTEGER,
 *                   anonymous-ok [3] BOOLEAN }
 *   DevregRegister  SEQUENCE { version [0], mode [1] INTEGER,
 *                   auth-pack [2] OCTET STRING }
 *   DevregReply     SEQUENCE { signed-dh-info [0] OCTET STRING }
 *   DevregLogin     SEQUENCE { version [0], ap-req [1] OCTET STRING }
 *   DevregError     SEQUENCE { code [0] INTEGER, text [1] UTF8String OPT }
 *   DevregAuthPack  SEQUENCE { freshness-token [0], req-body-hash [1],
 *                   ctime [2] GeneralizedTime, group [3], client-public [4] }
 *   DevregDHInfo    SEQUENCE { auth-pack-hash [0], group [1],
 *                   kdc-public [2] }
 *   FreshnessPlain  SEQUENCE { kdc-time [0] GeneralizedTime,
 *                   client [1] UTF8String }
 *   KRB5PrincipalName (RFC 4556), OtherInfo and PkinitSuppPubInfo
 *   (RFC 8636), AuthorizationData (RFC 4120), AD-CAMMAC (RFC 7751; the
 *   verifiers are kept as opaque ANY values) and AD-AUTH-INDICATOR
 *   (SEQUENCE OF UTF8String).
 *
 * Decoding is two steps: ks_der_decode() turns bytes into the template
 * structure, refusing anything that is not exactly one DER value (it
 * re-encodes and compares, which rejects every BER variant OpenSSL's
 * decoder tolerates); then a *_from_asn1() function copies each field out,
 * checking that it is present, and the same validator the encoder uses
 * checks ranges and sizes.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "ks_asn1.h"
#include "ks_util.h"

/* Latest time a GeneralizedTime with a four-digit year holds. */
#define KS_MAX_TIME ((time_t)253402300799LL)     /* 9999-12-31 23:59:59Z */

/* ---- templates ---------------------------------------------------------- */

typedef struct {
    int32_t version;
    ASN1_OCTET_STRING *freshness_token;
    STACK_OF(ASN1_INTEGER) *groups;
    ASN1_BOOLEAN anonymous_ok;
} KS_CHALLENGE;

ASN1_SEQUENCE(KS_CHALLENGE) = {
    ASN1_EXP_EMBED(KS_CHALLENGE, version, INT32, 0),
    ASN1_EXP(KS_CHALLENGE, freshness_token, ASN1_OCTET_STRING, 1),
    ASN1_EXP_SEQUENCE_OF(KS_CHALLENGE, groups, ASN1_INTEGER, 2),
    ASN1_EXP(KS_CHALLENGE, anonymous_ok, ASN1_BOOLEAN, 3),
} static_ASN1_SEQUENCE_END(KS_CHALLENGE)

typedef struct {
    int32_t version;
    int32_t mode;
    ASN1_OCTET_STRING *auth_pack;
} KS_REGISTER;

ASN1_SEQUENCE(KS_REGISTER) = {
    ASN1_EXP_EMBED(KS_REGISTER, version, INT32, 0),
    ASN1_EXP_EMBED(KS_REGISTER, mode, INT32, 1),
    ASN1_EXP(KS_REGISTER, auth_pack, ASN1_OCTET_STRING, 2),
} static_ASN1_SEQUENCE_END(KS_REGISTER)

typedef struct {
    ASN1_OCTET_STRING *signed_dh_info;
} KS_REPLY;

ASN1_SEQUENCE(KS_REPLY) = {
    ASN1_EXP(KS_REPLY, signed_dh_info, ASN1_OCTET_STRING, 0),
} static_ASN1_SEQUENCE_END(KS_REPLY)

typedef struct {
    int32_t version;
    ASN1_OCTET_STRING *ap_req;
} KS_LOGIN;

ASN1_SEQUENCE(KS_LOGIN) = {
    ASN1_EXP_EMBED(KS_LOGIN, version, INT32, 0),
    ASN1_EXP(KS_LOGIN, ap_req, ASN1_OCTET_STRING, 1),
} static_ASN1_SEQUENCE_END(KS_LOGIN)

typedef struct {
    int32_t code;
    ASN1_UTF8STRING *text;
} KS_ERROR;

ASN1_SEQUENCE(KS_ERROR) = {
    ASN1_EXP_EMBED(KS_ERROR, code, INT32, 0),
    ASN1_EXP_OPT(KS_ERROR, text, ASN1_UTF8STRING, 1),
} static_ASN1_SEQUENCE_END(KS_ERROR)

typedef struct {
    int type;                   /* CHOICE selector: the tag number */
    union {
        KS_CHALLENGE *challenge;
        KS_REGISTER *reg;
        KS_REPLY *reply;
        KS_LOGIN *login;
        KS_ERROR *error;
    } value;
} KS_MESSAGE;

ASN1_CHOICE(KS_MESSAGE) = {
    ASN1_EXP(KS_MESSAGE, value.challenge, KS_CHALLENGE, 0),
    ASN1_EXP(KS_MESSAGE, value.reg, KS_REGISTER, 1),
    ASN1_EXP(KS_MESSAGE, value.reply, KS_REPLY, 2),
    ASN1_EXP(KS_MESSAGE, value.login, KS_LOGIN, 3),
    ASN1_EXP(KS_MESSAGE, value.error, KS_ERROR, 4),
} static_ASN1_CHOICE_END(KS_MESSAGE)

typedef struct {
    ASN1_OCTET_STRING *freshness_token;
    ASN1_OCTET_STRING *req_body_hash;
    ASN1_GENERALIZEDTIME *ctime;
    int32_t group;
    ASN1_OCTET_STRING *client_public;
} KS_AUTH_PACK;

ASN1_SEQUENCE(KS_AUTH_PACK) = {
    ASN1_EXP(KS_AUTH_PACK, freshness_token, ASN1_OCTET_STRING, 0),
    ASN1_EXP(KS_AUTH_PACK, req_body_hash, ASN1_OCTET_STRING, 1),
    ASN1_EXP(KS_AUTH_PACK, ctime, ASN1_GENERALIZEDTIME, 2),
    ASN1_EXP_EMBED(KS_AUTH_PACK, group, INT32, 3),
    ASN1_EXP(KS_AUTH_PACK, client_public, ASN1_OCTET_STRING, 4),
} static_ASN1_SEQUENCE_END(KS_AUTH_PACK)

typedef struct {
    ASN1_OCTET_STRING *auth_pack_hash;
    int32_t group;
    ASN1_OCTET_STRING *kdc_public;
} KS_DH_INFO;

ASN1_SEQUENCE(KS_DH_INFO) = {
    ASN1_EXP(KS_DH_INFO, auth_pack_hash, ASN1_OCTET_STRING, 0),
    ASN1_EXP_EMBED(KS_DH_INFO, group, INT32, 1),
    ASN1_EXP(KS_DH_INFO, kdc_public, ASN1_OCTET_STRING, 2),
} static_ASN1_SEQUENCE_END(KS_DH_INFO)

typedef struct {
    ASN1_GENERALIZEDTIME *kdc_time;
    ASN1_UTF8STRING *client;
} KS_FRESHNESS;

ASN1_SEQUENCE(KS_FRESHNESS) = {
    ASN1_EXP(KS_FRESHNESS, kdc_time, ASN1_GENERALIZEDTIME, 0),
    ASN1_EXP(KS_FRESHNESS, client, ASN1_UTF8STRING, 1),
} static_ASN1_SEQUENCE_END(KS_FRESHNESS)

/* RFC 4120 PrincipalName and RFC 4556 KRB5PrincipalName. */
typedef struct {
    int32_t name_type;
    STACK_OF(ASN1_GENERALSTRING) *name_string;
} KS_PRINCIPAL_NAME;

ASN1_SEQUENCE(KS_PRINCIPAL_NAME) = {
    ASN1_EXP_EMBED(KS_PRINCIPAL_NAME, name_type, INT32, 0),
    ASN1_EXP_SEQUENCE_OF(KS_PRINCIPAL_NAME, name_string,
                         ASN1_GENERALSTRING, 1),
} static_ASN1_SEQUENCE_END(KS_PRINCIPAL_NAME)

typedef struct {
    ASN1_GENERALSTRING *realm;
    KS_PRINCIPAL_NAME *principal_name;
} KS_KRB5_PRINCIPAL_NAME;

ASN1_SEQUENCE(KS_KRB5_PRINCIPAL_NAME) = {
    ASN1_EXP(KS_KRB5_PRINCIPAL_NAME, realm, ASN1_GENERALSTRING, 0),
    ASN1_EXP(KS_KRB5_PRINCIPAL_NAME, principal_name, KS_PRINCIPAL_NAME, 1),
} static_ASN1_SEQUENCE_END(KS_KRB5_PRINCIPAL_NAME)

/* RFC 8636 section 3.2. */
typedef struct {
    X509_ALGOR *algorithm;
    ASN1_OCTET_STRING *party_u_info;
    ASN1_OCTET_STRING *party_v_info;
    ASN1_OCTET_STRING *supp_pub_info;
    ASN1_OCTET_STRING *supp_priv_info;
} KS_OTHER_INFO;

ASN1_SEQUENCE(KS_OTHER_INFO) = {
    ASN1_SIMPLE(KS_OTHER_INFO, algorithm, X509_ALGOR),
    ASN1_EXP(KS_OTHER_INFO, party_u_info, ASN1_OCTET_STRING, 0),
    ASN1_EXP(KS_OTHER_INFO, party_v_info, ASN1_OCTET_STRING, 1),
    ASN1_EXP_OPT(KS_OTHER_INFO, supp_pub_info, ASN1_OCTET_STRING, 2),
    ASN1_EXP_OPT(KS_OTHER_INFO, supp_priv_info, ASN1_OCTET_STRING, 3),
} static_ASN1_SEQUENCE_END(KS_OTHER_INFO)

typedef struct {
    int32_t enctype;
    ASN1_OCTET_STRING *as_req;
    ASN1_OCTET_STRING *pk_as_rep;
} KS_SUPP_PUB_INFO;

ASN1_SEQUENCE(KS_SUPP_PUB_INFO) = {
    ASN1_EXP_EMBED(KS_SUPP_PUB_INFO, enctype, INT32, 0),
    ASN1_EXP(KS_SUPP_PUB_INFO, as_req, ASN1_OCTET_STRING, 1),
    ASN1_EXP(KS_SUPP_PUB_INFO, pk_as_rep, ASN1_OCTET_STRING, 2),
} static_ASN1_SEQUENCE_END(KS_SUPP_PUB_INFO)

/* RFC 4120 AuthorizationData, RFC 7751 AD-CAMMAC, AD-AUTH-INDICATOR. */
typedef struct {
    int32_t ad_type;
    ASN1_OCTET_STRING *ad_data;
} KS_AD_ELEMENT;

ASN1_SEQUENCE(KS_AD_ELEMENT) = {
    ASN1_EXP_EMBED(KS_AD_ELEMENT, ad_type, INT32, 0),
    ASN1_EXP(KS_AD_ELEMENT, ad_data, ASN1_OCTET_STRING, 1),
} static_ASN1_SEQUENCE_END(KS_AD_ELEMENT)

DEFINE_STACK_OF(KS_AD_ELEMENT)

typedef STACK_OF(KS_AD_ELEMENT) KS_AUTHDATA;

ASN1_ITEM_TEMPLATE(KS_AUTHDATA) =
    ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, elements, KS_AD_ELEMENT)
static_ASN1_ITEM_TEMPLATE_END(KS_AUTHDATA)

typedef struct {
    STACK_OF(KS_AD_ELEMENT) *elements;
    ASN1_TYPE *kdc_verifier;
    ASN1_TYPE *svc_verifier;
    ASN1_TYPE *other_verifiers;
} KS_CAMMAC;

ASN1_SEQUENCE(KS_CAMMAC) = {
    ASN1_EXP_SEQUENCE_OF(KS_CAMMAC, elements, KS_AD_ELEMENT, 0),
    ASN1_EXP_OPT(KS_CAMMAC, kdc_verifier, ASN1_ANY, 1),
    ASN1_EXP_OPT(KS_CAMMAC, svc_verifier, ASN1_ANY, 2),
    ASN1_EXP_OPT(KS_CAMMAC, other_verifiers, ASN1_ANY, 3),
} static_ASN1_SEQUENCE_END(KS_CAMMAC)

typedef STACK_OF(ASN1_UTF8STRING) KS_AUTH_INDICATOR;

ASN1_ITEM_TEMPLATE(KS_AUTH_INDICATOR) =
    ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, indicators,
                          ASN1_UTF8STRING)
static_ASN1_ITEM_TEMPLATE_END(KS_AUTH_INDICATOR)

/* ---- DER in and out ----------------------------------------------------- */

/*
 * Decode the len bytes at der as one DER value of type it into *val_out
 * (see ks_asn1.h).  With cleanse, the re-encoding made for the DER check
 * is zeroed before it is freed: it is a copy of the input.
 */
static krb5_error_code
der_decode(const ASN1_ITEM *it, const unsigned char *der, size_t len,
           ASN1_VALUE **val_out, int cleanse)
{
    const unsigned char *p = der;
    unsigned char *again = NULL;
    ASN1_VALUE *val;
    krb5_error_code ret;
    int againlen = -1;

    if (der == NULL || len == 0 || len > KS_ASN1_MAX_INPUT)
        return ASN1_BAD_LENGTH;
    val = ASN1_item_d2i(NULL, &p, (long)len, it);
    if (val == NULL) {
        ret = ASN1_PARSE_ERROR;
        goto cleanup;
    }
    if (p != der + len) {
        ret = ASN1_BAD_LENGTH;
        goto cleanup;
    }
    againlen = ASN1_item_i2d(val, &again, it);
    if (againlen < 0 || (size_t)againlen != len ||
        memcmp(again, der, len) != 0) {
        ret = ASN1_BAD_FORMAT;
        goto cleanup;
    }
    *val_out = val;
    val = NULL;
    ret = 0;

cleanup:
    if (cleanse && again != NULL)
        OPENSSL_clear_free(again, againlen > 0 ? (size_t)againlen : 0);
    else
        OPENSSL_free(again);
    ASN1_item_free(val, it);
    ERR_clear_error();
    return ret;
}

krb5_error_code
ks_der_decode(const ASN1_ITEM *it, const unsigned char *der, size_t len,
              ASN1_VALUE **val_out)
{
    return der_decode(it, der, len, val_out, 0);
}

krb5_error_code
ks_der_decode_secret(const ASN1_ITEM *it, const unsigned char *der,
                     size_t len, ASN1_VALUE **val_out)
{
    return der_decode(it, der, len, val_out, 1);
}

krb5_error_code
ks_der_encode(const ASN1_ITEM *it, ASN1_VALUE *val, unsigned char **der_out,
              size_t *len_out)
{
    unsigned char *buf, *p;
    int len;

    len = ASN1_item_i2d(val, NULL, it);
    if (len <= 0) {
        ERR_clear_error();
        return EINVAL;
    }
    buf = malloc(len);
    if (buf == NULL)
        return ENOMEM;
    p = buf;
    if (ASN1_item_i2d(val, &p, it) != len) {
        /* It may hold part of a key (TempkeyKeys). */
        ks_zfree(buf, len);
        ERR_clear_error();
        return EINVAL;
    }
    *der_out = buf;
    *len_out = len;
    return 0;
}

/* ---- field helpers ------------------------------------------------------ */

/* Nonzero if the len bytes at s are UTF-8 (RFC 3629) with no NUL. */
int
ks_utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0, n, k;
    uint32_t c, min;

    while (i < len) {
        c = s[i];
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            n = 1;
            c &= 0x1f;
            min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            c &= 0x0f;
            min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            c &= 0x07;
            min = 0x10000;
        } else {
            return 0;
        }
        if (len - i - 1 < n)
            return 0;
        for (k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            c = (c << 6) | (s[i + k] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* Nonzero if s is a NUL-terminated UTF-8 string of min..max bytes. */
int
ks_text_valid(const char *s, size_t min, size_t max)
{
    size_t len;

    if (s == NULL)
        return 0;
    len = strlen(s);
    return len >= min && len <= max &&
        ks_utf8_valid((const unsigned char *)s, len);
}

/* Nonzero if d holds min..max bytes. */
int
ks_octets_valid(const krb5_data *d, size_t min, size_t max)
{
    return d->length >= min && d->length <= max &&
        (d->data != NULL || d->length == 0);
}

/* Nonzero if t fits a GeneralizedTime and is not before 1970. */
static int
time_valid(time_t t)
{
    return t >= 0 && t <= KS_MAX_TIME;
}

/* Nonzero if pub is a public key of group (the devreg sizes). */
static int
public_key_valid(int32_t group, const krb5_data *pub)
{
    if (pub->data == NULL)
        return 0;
    if (group == KS_DEVREG_GROUP_X25519)
        return pub->length == KS_DEVREG_X25519_PUBLIC_LEN;
    if (group == KS_DEVREG_GROUP_P256)
        return pub->length == KS_DEVREG_P256_PUBLIC_LEN &&
            (unsigned char)pub->data[0] == 0x04;
    return 0;
}

/* Copy the contents of os (min..max bytes) into a new malloc'ed *out. */
krb5_error_code
ks_octets_from_asn1(const ASN1_OCTET_STRING *os, size_t min, size_t max,
                    krb5_data *out)
{
    size_t len;

    if (os == NULL || os->length < 0 || (os->data == NULL && os->length > 0))
        return ASN1_MISSING_FIELD;
    len = os->length;
    if (len < min || len > max)
        return ASN1_BAD_FORMAT;
    out->magic = KV5M_DATA;
    out->data = malloc(len > 0 ? len : 1);
    if (out->data == NULL)
        return ENOMEM;
    if (len > 0)
        memcpy(out->data, os->data, len);
    out->length = len;
    return 0;
}

/* Copy the contents of os, which must be exactly len bytes, to out. */
krb5_error_code
ks_fixed_from_asn1(const ASN1_OCTET_STRING *os, unsigned char *out, size_t len)
{
    if (os == NULL || os->data == NULL)
        return ASN1_MISSING_FIELD;
    if (os->length < 0 || (size_t)os->length != len)
        return ASN1_BAD_FORMAT;
    memcpy(out, os->data, len);
    return 0;
}

krb5_error_code
ks_octets_to_asn1(ASN1_OCTET_STRING **osp, const void *data, size_t len)
{
    if (osp == NULL || len > INT_MAX)
        return EINVAL;
    if (*osp == NULL) {
        *osp = ASN1_OCTET_STRING_new();
        if (*osp == NULL)
            return ENOMEM;
    }
    if (!ASN1_OCTET_STRING_set(*osp, data, (int)len)) {
        ERR_clear_error();
        return ENOMEM;
    }
    return 0;
}

/* Copy the UTF8String s (min..max bytes, valid UTF-8, no NUL) into a new
 * NUL-terminated *out. */
krb5_error_code
ks_text_from_asn1(const ASN1_UTF8STRING *s, size_t min, size_t max, char **out)
{
    size_t len;
    char *t;

    if (s == NULL || s->length < 0 || (s->data == NULL && s->length > 0))
        return ASN1_MISSING_FIELD;
    if (s->type != V_ASN1_UTF8STRING)
        return ASN1_BAD_FORMAT;
    len = s->length;
    if (len < min || len > max || !ks_utf8_valid(s->data, len))
        return ASN1_BAD_FORMAT;
    t = malloc(len + 1);
    if (t == NULL)
        return ENOMEM;
    if (len > 0)
        memcpy(t, s->data, len);
    t[len] = '\0';
    *out = t;
    return 0;
}

krb5_error_code
ks_text_to_asn1(ASN1_UTF8STRING **sp, const char *text)
{
    if (sp == NULL || text == NULL || strlen(text) > INT_MAX)
        return EINVAL;
    if (*sp == NULL)
        *sp = ASN1_UTF8STRING_new();
    if (*sp == NULL || !ASN1_STRING_set(*sp, text, (int)strlen(text))) {
        ERR_clear_error();
        return ENOMEM;
    }
    return 0;
}

/* Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= (m <= 2);
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Read a GeneralizedTime of the form YYYYMMDDHHMMSSZ into *out. */
static krb5_error_code
time_from_asn1(const ASN1_GENERALIZEDTIME *gt, time_t *out)
{
    struct tm tm;
    int64_t t;
    int i;

    if (gt == NULL || gt->data == NULL)
        return ASN1_MISSING_FIELD;
    if (gt->type != V_ASN1_GENERALIZEDTIME || gt->length != 15 ||
        gt->data[14] != 'Z')
        return ASN1_BAD_TIMEFORMAT;
    for (i = 0; i < 14; i++) {
        if (gt->data[i] < '0' || gt->data[i] > '9')
            return ASN1_BAD_TIMEFORMAT;
    }
    memset(&tm, 0, sizeof(tm));
    if (!ASN1_TIME_to_tm(gt, &tm)) {
        ERR_clear_error();
        return ASN1_BAD_TIMEFORMAT;
    }
    t = days_from_civil((int64_t)tm.tm_year + 1900, tm.tm_mon + 1,
                        tm.tm_mday) * 86400 +
        tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    if (t < 0 || t > (int64_t)KS_MAX_TIME)
        return ASN1_BAD_TIMEFORMAT;
    *out = (time_t)t;
    return 0;
}

/* Set gt (allocated by the template) to t. */
static krb5_error_code
time_to_asn1(ASN1_GENERALIZEDTIME *gt, time_t t)
{
    if (gt == NULL || !time_valid(t))
        return EINVAL;
    if (ASN1_GENERALIZEDTIME_set(gt, t) == NULL) {
        ERR_clear_error();
        return ENOMEM;
    }
    return 0;
}

/* ---- validators shared by encoders and decoders ------------------------- */

/*
 * Each *_valid() returns nonzero if a structure respects the rules of
 * ks_asn1.h.  Encoders call it before encoding and decoders after copying
 * the fields out, so both refuse the same values.
 */

static int
challenge_valid(const struct ks_devreg_challenge *c)
{
    size_t i;

    if (!ks_octets_valid(&c->freshness_token, 0, KS_DEVREG_MAX_TOKEN))
        return 0;
    if (c->groups == NULL || c->ngroups < 1 ||
        c->ngroups > KS_DEVREG_MAX_GROUPS)
        return 0;
    for (i = 0; i < c->ngroups; i++) {
        if (c->groups[i] <= 0)
            return 0;
    }
    return 1;
}

static int
register_valid(const struct ks_devreg_register *r)
{
    return (r->mode == KS_DEVREG_MODE_STAGED ||
            r->mode == KS_DEVREG_MODE_ANONYMOUS) &&
        ks_octets_valid(&r->auth_pack, 1, KS_DEVREG_MAX_CMS);
}

static int
reply_valid(const struct ks_devreg_reply *r)
{
    return ks_octets_valid(&r->signed_dh_info, 1, KS_DEVREG_MAX_CMS);
}

static int
login_valid(const struct ks_devreg_login *l)
{
    return ks_octets_valid(&l->ap_req, 1, KS_DEVREG_MAX_AP_REQ);
}

static int
error_valid(const struct ks_devreg_error *e)
{
    return e->text == NULL || ks_text_valid(e->text, 0, KS_DEVREG_MAX_TEXT);
}

static int
auth_pack_valid(const struct ks_devreg_auth_pack *ap)
{
    return ks_octets_valid(&ap->freshness_token, 0, KS_DEVREG_MAX_TOKEN) &&
        time_valid(ap->ctime) && public_key_valid(ap->group,
                                                  &ap->client_public);
}

static int
dh_info_valid(const struct ks_devreg_dh_info *dh)
{
    return public_key_valid(dh->group, &dh->kdc_public);
}

static int
freshness_valid(const struct ks_freshness_plain *fp)
{
    return time_valid(fp->kdc_time) &&
        ks_text_valid(fp->client, 1, KS_DEVREG_MAX_CLIENT);
}

/* ---- DevregMessage ------------------------------------------------------ */

/* Build the template structure of DevregChallenge from in. */
static krb5_error_code
challenge_to_asn1(const struct ks_devreg_challenge *in, KS_CHALLENGE **out)
{
    KS_CHALLENGE *c;
    ASN1_INTEGER *g = NULL;
    krb5_error_code ret;
    size_t i;

    if (!challenge_valid(in))
        return EINVAL;
    c = (KS_CHALLENGE *)ASN1_item_new(ASN1_ITEM_rptr(KS_CHALLENGE));
    if (c == NULL)
        return ENOMEM;
    c->version = KS_DEVREG_VERSION;
    ret = ks_octets_to_asn1(&c->freshness_token, in->freshness_token.data,
                            in->freshness_token.length);
    if (ret)
        goto cleanup;
    for (i = 0; i < in->ngroups; i++) {
        g = ASN1_INTEGER_new();
        if (g == NULL || !ASN1_INTEGER_set_int64(g, in->groups[i]) ||
            !sk_ASN1_INTEGER_push(c->groups, g)) {
            ret = ENOMEM;
            goto cleanup;
        }
        g = NULL;
    }
    c->anonymous_ok = in->anonymous_ok ? 0xff : 0;
    *out = c;
    c = NULL;

cleanup:
    ASN1_INTEGER_free(g);
    ASN1_item_free((ASN1_VALUE *)c, ASN1_ITEM_rptr(KS_CHALLENGE));
    return ret;
}

/* Copy a decoded DevregChallenge into out (freed by the caller on error). */
static krb5_error_code
challenge_from_asn1(const KS_CHALLENGE *c, struct ks_devreg_challenge *out)
{
    krb5_error_code ret;
    int64_t v;
    int i, n;

    if (c->version != KS_DEVREG_VERSION)
        return ASN1_BAD_FORMAT;
    /* DER BOOLEAN is 0x00 or 0xFF; OpenSSL keeps the byte it read. */
    if (c->anonymous_ok != 0 && c->anonymous_ok != 0xff)
        return ASN1_BAD_FORMAT;
    out->anonymous_ok = (c->anonymous_ok != 0);
    ret = ks_octets_from_asn1(c->freshness_token, 0, KS_DEVREG_MAX_TOKEN,
                              &out->freshness_token);
    if (ret)
        return ret;
    if (c->groups == NULL)
        return ASN1_MISSING_FIELD;
    n = sk_ASN1_INTEGER_num(c->groups);
    if (n < 1 || n > KS_DEVREG_MAX_GROUPS)
        return ASN1_BAD_FORMAT;
    out->groups = calloc(n, sizeof(*out->groups));
    if (out->groups == NULL)
        return ENOMEM;
    for (i = 0; i < n; i++) {
        const ASN1_INTEGER *g = sk_ASN1_INTEGER_value(c->groups, i);

        if (g == NULL)
            return ASN1_MISSING_FIELD;
        if (!ASN1_INTEGER_get_int64(&v, g)) {
            ERR_clear_error();
            return ASN1_BAD_FORMAT;
        }
        if (v < 1 || v > INT32_MAX)
            return ASN1_BAD_FORMAT;
        out->groups[i] = (int32_t)v;
    }
    out->ngroups = n;
    return challenge_valid(out) ? 0 : ASN1_BAD_FORMAT;
}

/* Build the template structure of DevregRegister from in. */
static krb5_error_code
register_to_asn1(const struct ks_devreg_register *in, KS_REGISTER **out)
{
    KS_REGISTER *r;
    krb5_error_code ret;

    if (!register_valid(in))
        return EINVAL;
    r = (KS_REGISTER *)ASN1_item_new(ASN1_ITEM_rptr(KS_REGISTER));
    if (r == NULL)
        return ENOMEM;
    r->version = KS_DEVREG_VERSION;
    r->mode = in->mode;
    ret = ks_octets_to_asn1(&r->auth_pack, in->auth_pack.data,
                            in->auth_pack.length);
    if (ret) {
        ASN1_item_free((ASN1_VALUE *)r, ASN1_ITEM_rptr(KS_REGISTER));
        return ret;
    }
    *out = r;
    return 0;
}

/* Copy a decoded DevregRegister into out. */
static krb5_error_code
register_from_asn1(const KS_REGISTER *r, struct ks_devreg_register *out)
{
    krb5_error_code ret;

    if (r->version != KS_DEVREG_VERSION)
        return ASN1_BAD_FORMAT;
    out->mode = r->mode;
    ret = ks_octets_from_asn1(r->auth_pack, 0, KS_DEVREG_MAX_CMS,
                              &out->auth_pack);
    if (ret)
        return ret;
    return register_valid(out) ? 0 : ASN1_BAD_FORMAT;
}

/* Build the template structure of DevregReply from in. */
static krb5_error_code
reply_to_asn1(const struct ks_devreg_reply *in, KS_REPLY **out)
{
    KS_REPLY *r;
    krb5_error_code ret;

    if (!reply_valid(in))
        return EINVAL;
    r = (KS_REPLY *)ASN1_item_new(ASN1_ITEM_rptr(KS_REPLY));
    if (r == NULL)
        return ENOMEM;
    ret = ks_octets_to_asn1(&r->signed_dh_info, in->signed_dh_info.data,
                            in->signed_dh_info.length);
    if (ret) {
        ASN1_item_free((ASN1_VALUE *)r, ASN1_ITEM_rptr(KS_REPLY));
        return ret;
    }
    *out = r;
    return 0;
}

/* Copy a decoded DevregReply into out. */
static krb5_error_code
reply_from_asn1(const KS_REPLY *r, struct ks_devreg_reply *out)
{
    krb5_error_code ret;

    ret = ks_octets_from_asn1(r->signed_dh_info, 0, KS_DEVREG_MAX_CMS,
                              &out->signed_dh_info);
    if (ret)
        return ret;
    return reply_valid(out) ? 0 : ASN1_BAD_FORMAT;
}

/* Build the template structure of DevregLogin from in. */
static krb5_error_code
login_to_asn1(const struct ks_devreg_login *in, KS_LOGIN **out)
{
    KS_LOGIN *l;
    krb5_error_code ret;

    if (!login_valid(in))
        return EINVAL;
    l = (KS_LOGIN *)ASN1_item_new(ASN1_ITEM_rptr(KS_LOGIN));
    if (l == NULL)
        return ENOMEM;
    l->version = KS_DEVREG_VERSION;
    ret = ks_octets_to_asn1(&l->ap_req, in->ap_req.data, in->ap_req.length);
    if (ret) {
        ASN1_item_free((ASN1_VALUE *)l, ASN1_ITEM_rptr(KS_LOGIN));
        return ret;
    }
    *out = l;
    return 0;
}

/* Copy a decoded DevregLogin into out. */
static krb5_error_code
login_from_asn1(const KS_LOGIN *l, struct ks_devreg_login *out)
{
    krb5_error_code ret;

    if (l->version != KS_DEVREG_VERSION)
        return ASN1_BAD_FORMAT;
    ret = ks_octets_from_asn1(l->ap_req, 0, KS_DEVREG_MAX_AP_REQ,
                              &out->ap_req);
    if (ret)
        return ret;
    return login_valid(out) ? 0 : ASN1_BAD_FORMAT;
}

/* Build the template structure of DevregError from in. */
static krb5_error_code
error_to_asn1(const struct ks_devreg_error *in, KS_ERROR **out)
{
    KS_ERROR *e;
    krb5_error_code ret;

    if (!error_valid(in))
        return EINVAL;
    e = (KS_ERROR *)ASN1_item_new(ASN1_ITEM_rptr(KS_ERROR));
    if (e == NULL)
        return ENOMEM;
    e->code = in->code;
    if (in->text != NULL) {
        ret = ks_text_to_asn1(&e->text, in->text);
        if (ret) {
            ASN1_item_free((ASN1_VALUE *)e, ASN1_ITEM_rptr(KS_ERROR));
            return ret;
        }
    }
    *out = e;
    return 0;
}

/* Copy a decoded DevregError into out. */
static krb5_error_code
error_from_asn1(const KS_ERROR *e, struct ks_devreg_error *out)
{
    krb5_error_code ret;

    out->code = e->code;
    if (e->text != NULL) {
        ret = ks_text_from_asn1(e->text, 0, KS_DEVREG_MAX_TEXT, &out->text);
        if (ret)
            return ret;
    }
    return error_valid(out) ? 0 : ASN1_BAD_FORMAT;
}

krb5_error_code
ks_devreg_message_encode(const struct ks_devreg_message *msg,
                         unsigned char **der_out, size_t *len_out)
{
    KS_MESSAGE *m;
    krb5_error_code ret;

    m = (KS_MESSAGE *)ASN1_item_new(ASN1_ITEM_rptr(KS_MESSAGE));
    if (m == NULL)
        return ENOMEM;
    switch (msg->type) {
    case KS_DEVREG_MSG_CHALLENGE:
        ret = challenge_to_asn1(&msg->u.challenge, &m->value.challenge);
        break;
    case KS_DEVREG_MSG_REGISTER:
        ret = register_to_asn1(&msg->u.reg, &m->value.reg);
        break;
    case KS_DEVREG_MSG_REPLY:
        ret = reply_to_asn1(&msg->u.reply, &m->value.reply);
        break;
    case KS_DEVREG_MSG_LOGIN:
        ret = login_to_asn1(&msg->u.login, &m->value.login);
        break;
    case KS_DEVREG_MSG_ERROR:
        ret = error_to_asn1(&msg->u.error, &m->value.error);
        break;
    default:
        ret = EINVAL;
        break;
    }
    if (ret)
        goto cleanup;
    m->type = msg->type;
    ret = ks_der_encode(ASN1_ITEM_rptr(KS_MESSAGE), (ASN1_VALUE *)m, der_out,
                        len_out);

cleanup:
    ASN1_item_free((ASN1_VALUE *)m, ASN1_ITEM_rptr(KS_MESSAGE));
    return ret;
}

krb5_error_code
ks_devreg_message_decode(const unsigned char *der, size_t len,
                         struct ks_devreg_message **msg_out)
{
    KS_MESSAGE *m = NULL;
    struct ks_devreg_message *msg = NULL;
    krb5_error_code ret;

    ret = ks_der_decode(ASN1_ITEM_rptr(KS_MESSAGE), der, len,
                        (ASN1_VALUE **)&m);
    if (ret)
        return ret;
    msg = calloc(1, sizeof(*msg));
    if (msg == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    msg->type = m->type;
    switch (m->type) {
    case KS_DEVREG_MSG_CHALLENGE:
        ret = (m->value.challenge == NULL) ? ASN1_MISSING_FIELD :
            challenge_from_asn1(m->value.challenge, &msg->u.challenge);
        break;
    case KS_DEVREG_MSG_REGISTER:
        ret = (m->value.reg == NULL) ? ASN1_MISSING_FIELD :
            register_from_asn1(m->value.reg, &msg->u.reg);
        break;
    case KS_DEVREG_MSG_REPLY:
        ret = (m->value.reply == NULL) ? ASN1_MISSING_FIELD :
            reply_from_asn1(m->value.reply, &msg->u.reply);
        break;
    case KS_DEVREG_MSG_LOGIN:
        ret = (m->value.login == NULL) ? ASN1_MISSING_FIELD :
            login_from_asn1(m->value.login, &msg->u.login);
        break;
    case KS_DEVREG_MSG_ERROR:
        ret = (m->value.error == NULL) ? ASN1_MISSING_FIELD :
            error_from_asn1(m->value.error, &msg->u.error);
        break;
    default:
        /* Not reachable: the template knows only the five tags. */
        msg->type = KS_DEVREG_MSG_ERROR;
        ret = ASN1_BAD_ID;
        break;
    }
    if (ret)
        goto cleanup;
    *msg_out = msg;
    msg = NULL;

cleanup:
    ks_devreg_message_free(msg);
    ASN1_item_free((ASN1_VALUE *)m, ASN1_ITEM_rptr(KS_MESSAGE));
    return ret;
}

void
ks_devreg_message_free(struct ks_devreg_message *msg)
{
    if (msg == NULL)
        return;
    switch (msg->type) {
    case KS_DEVREG_MSG_CHALLENGE:
        free(msg->u.challenge.freshness_token.data);
        free(msg->u.challenge.groups);
        break;
    case KS_DEVREG_MSG_REGISTER:
        free(msg->u.reg.auth_pack.data);
        break;
    case KS_DEVREG_MSG_REPLY:
        free(msg->u.reply.signed_dh_info.data);
        break;
    case KS_DEVREG_MSG_LOGIN:
        free(msg->u.login.ap_req.data);
        break;
    case KS_DEVREG_MSG_ERROR:
        free(msg->u.error.text);
        break;
    }
    free(msg);
}

/* ---- DevregAuthPack, DevregDHInfo, FreshnessPlain ----------------------- */

krb5_error_code
ks_devreg_auth_pack_encode(const struct ks_devreg_auth_pack *ap,
                           unsigned char **der_out, size_t *len_out)
{
    KS_AUTH_PACK *a;
    krb5_error_code ret;

    if (!auth_pack_valid(ap))
        return EINVAL;
    a = (KS_AUTH_PACK *)ASN1_item_new(ASN1_ITEM_rptr(KS_AUTH_PACK));
    if (a == NULL)
        return ENOMEM;
    ret = ks_octets_to_asn1(&a->freshness_token, ap->freshness_token.data,
                            ap->freshness_token.length);
    if (ret)
        goto cleanup;
    ret = ks_octets_to_asn1(&a->req_body_hash, ap->req_body_hash,
                            sizeof(ap->req_body_hash));
    if (ret)
        goto cleanup;
    ret = time_to_asn1(a->ctime, ap->ctime);
    if (ret)
        goto cleanup;
    a->group = ap->group;
    ret = ks_octets_to_asn1(&a->client_public, ap->client_public.data,
                            ap->client_public.length);
    if (ret)
        goto cleanup;
    ret = ks_der_encode(ASN1_ITEM_rptr(KS_AUTH_PACK), (ASN1_VALUE *)a, der_out,
                        len_out);

cleanup:
    ASN1_item_free((ASN1_VALUE *)a, ASN1_ITEM_rptr(KS_AUTH_PACK));
    return ret;
}

krb5_error_code
ks_devreg_auth_pack_decode(const unsigned char *der, size_t len,
                           struct ks_devreg_auth_pack **out)
{
    KS_AUTH_PACK *a = NULL;
    struct ks_devreg_auth_pack *ap = NULL;
    krb5_error_code ret;

    ret = ks_der_decode(ASN1_ITEM_rptr(KS_AUTH_PACK), der, len,
                        (ASN1_VALUE **)&a);
    if (ret)
        return ret;
    ap = calloc(1, sizeof(*ap));
    if (ap == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    ret = ks_octets_from_asn1(a->freshness_token, 0, KS_DEVREG_MAX_TOKEN,
                              &ap->freshness_token);
    if (ret)
        goto cleanup;
    ret = ks_fixed_from_asn1(a->req_body_hash, ap->req_body_hash,
                             sizeof(ap->req_body_hash));
    if (ret)
        goto cleanup;
    ret = time_from_asn1(a->ctime, &ap->ctime);
    if (ret)
        goto cleanup;
    ap->group = a->group;
    ret = ks_octets_from_asn1(a->client_public, 0, KS_DEVREG_P256_PUBLIC_LEN,
                              &ap->client_public);
    if (ret)
        goto cleanup;
    if (!auth_pack_valid(ap)) {
        ret = ASN1_BAD_FORMAT;
        goto cleanup;
    }
    *out = ap;
    ap = NULL;

cleanup:
    ks_devreg_auth_pack_free(ap);
    ASN1_item_free((ASN1_VALUE *)a, ASN1_ITEM_rptr(KS_AUTH_PACK));
    return ret;
}

void
ks_devreg_auth_pack_free(struct ks_devreg_auth_pack *ap)
{
    if (ap == NULL)
        return;
    free(ap->freshness_token.data);
    free(ap->client_public.data);
    free(ap);
}

krb5_error_code
ks_devreg_dh_info_encode(const struct ks_devreg_dh_info *dh,
                         unsigned char **der_out, size_t *len_out)
{
    KS_DH_INFO *d;
    krb5_error_code ret;

    if (!dh_info_valid(dh))
        return EINVAL;
    d = (KS_DH_INFO *)ASN1_item_new(ASN1_ITEM_rptr(KS_DH_INFO));
    if (d == NULL)
        return ENOMEM;
    ret = ks_octets_to_asn1(&d->auth_pack_hash, dh->auth_pack_hash,
                            sizeof(dh->auth_pack_hash));
    if (ret)
        goto cleanup;
    d->group = dh->group;
    ret = ks_octets_to_asn1(&d->kdc_public, dh->kdc_public.data,
                            dh->kdc_public.length);
    if (ret)
        goto cleanup;
    ret = ks_der_encode(ASN1_ITEM_rptr(KS_DH_INFO), (ASN1_VALUE *)d, der_out,
                        len_out);

cleanup:
    ASN1_item_free((ASN1_VALUE *)d, ASN1_ITEM_rptr(KS_DH_INFO));
    return ret;
}

krb5_error_code
ks_devreg_dh_info_decode(const unsigned char *der, size_t len,
                         struct ks_devreg_dh_info **out)
{
    KS_DH_INFO *d = NULL;
    struct ks_devreg_dh_info *dh = NULL;
    krb5_error_code ret;

    ret = ks_der_decode(ASN1_ITEM_rptr(KS_DH_INFO), der, len,
                        (ASN1_VALUE **)&d);
    if (ret)
        return ret;
    dh = calloc(1, sizeof(*dh));
    if (dh == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    ret = ks_fixed_from_asn1(d->auth_pack_hash, dh->auth_pack_hash,
                             sizeof(dh->auth_pack_hash));
    if (ret)
        goto cleanup;
    dh->group = d->group;
    ret = ks_octets_from_asn1(d->kdc_public, 0, KS_DEVREG_P256_PUBLIC_LEN,
                              &dh->kdc_public);
    if (ret)
        goto cleanup;
    if (!dh_info_valid(dh)) {
        ret = ASN1_BAD_FORMAT;
        goto cleanup;
    }
    *out = dh;
    dh = NULL;

cleanup:
    ks_devreg_dh_info_free(dh);
    ASN1_item_free((ASN1_VALUE *)d, ASN1_ITEM_rptr(KS_DH_INFO));
    return ret;
}

void
ks_devreg_dh_info_free(struct ks_devreg_dh_info *dh)
{
    if (dh == NULL)
        return;
    free(dh->kdc_public.data);
    free(dh);
}

krb5_error_code
ks_freshness_plain_encode(const struct ks_freshness_plain *fp,
                          unsigned char **der_out, size_t *len_out)
{
    KS_FRESHNESS *f;
    krb5_error_code ret;

    if (!freshness_valid(fp))
        return EINVAL;
    f = (KS_FRESHNESS *)ASN1_item_new(ASN1_ITEM_rptr(KS_FRESHNESS));
    if (f == NULL)
        return ENOMEM;
    ret = time_to_asn1(f->kdc_time, fp->kdc_time);
    if (ret)
        goto cleanup;
    ret = ks_text_to_asn1(&f->client, fp->client);
    if (ret)
        goto cleanup;
    ret = ks_der_encode(ASN1_ITEM_rptr(KS_FRESHNESS), (ASN1_VALUE *)f, der_out,
                        len_out);

cleanup:
    ASN1_item_free((ASN1_VALUE *)f, ASN1_ITEM_rptr(KS_FRESHNESS));
    return ret;
}

krb5_error_code
ks_freshness_plain_decode(const unsigned char *der, size_t len,
                          struct ks_freshness_plain **out)
{
    KS_FRESHNESS *f = NULL;
    struct ks_freshness_plain *fp = NULL;
    krb5_error_code ret;

    ret = ks_der_decode(ASN1_ITEM_rptr(KS_FRESHNESS), der, len,
                        (ASN1_VALUE **)&f);
    if (ret)
        return ret;
    fp = calloc(1, sizeof(*fp));
    if (fp == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    ret = time_from_asn1(f->kdc_time, &fp->kdc_time);
    if (ret)
        goto cleanup;
    ret = ks_text_from_asn1(f->client, 1, KS_DEVREG_MAX_CLIENT, &fp->client);
    if (ret)
        goto cleanup;
    if (!freshness_valid(fp)) {
        ret = ASN1_BAD_FORMAT;
        goto cleanup;
    }
    *out = fp;
    fp = NULL;

cleanup:
    ks_freshness_plain_free(fp);
    ASN1_item_free((ASN1_VALUE *)f, ASN1_ITEM_rptr(KS_FRESHNESS));
    return ret;
}

void
ks_freshness_plain_free(struct ks_freshness_plain *fp)
{
    if (fp == NULL)
        return;
    free(fp->client);
    free(fp);
}

const char *
ks_devreg_error_message(int32_t code)
{
    switch (code) {
    case KS_DEVREG_E_MALFORMED:
        return "the KDC could not decode the devreg request";
    case KS_DEVREG_E_BAD_SIGNATURE:
        return "the device signature does not verify with the staged or "
            "certified device key";
    case KS_DEVREG_E_UNKNOWN_DEVICE:
        return "the device is not staged and presented no manufacturer "
            "certificate";
    case KS_DEVREG_E_UNTRUSTED_CERT:
        return "the device certificate does not chain to a trusted "
            "manufacturer CA";
    case KS_DEVREG_E_CERT_EXPIRED:
        return "the device certificate has expired";
    case KS_DEVREG_E_CERT_NOT_YET_VALID:
        return "the device certificate is not yet valid";
    case KS_DEVREG_E_WRONG_EKU:
        return "the device certificate lacks the id-pkinit-KPClientAuth "
            "extended key usage";
    case KS_DEVREG_E_CERT_WRONG_DEVICE:
        return "the device certificate names another device";
    case KS_DEVREG_E_ANONYMOUS_DISABLED:
        return "anonymous registration is disabled on this KDC";
    case KS_DEVREG_E_ANONYMOUS_STAGED:
        return "anonymous registration refused: the device id is staged; "
            "register with the device key";
    case KS_DEVREG_E_FRESHNESS_MISSING:
        return "the request carries no freshness token";
    case KS_DEVREG_E_FRESHNESS_STALE:
        return "the freshness token is stale; retry the registration";
    case KS_DEVREG_E_FRESHNESS_INVALID:
        return "the freshness token is not valid for this client";
    case KS_DEVREG_E_BAD_BINDING:
        return "the request binding does not match the AS-REQ body";
    case KS_DEVREG_E_UNSUPPORTED_GROUP:
        return "the key agreement group is not offered by the KDC";
    case KS_DEVREG_E_TICKET_INVALID:
        return "the registration ticket does not decrypt or verify "
            "(tampered, or from another realm secret)";
    case KS_DEVREG_E_TICKET_EXPIRED:
        return "the registration ticket has expired; register again";
    case KS_DEVREG_E_TICKET_WRONG_CLIENT:
        return "the registration ticket belongs to another device";
    case KS_DEVREG_E_REPLAY:
        return "the login request was replayed";
    case KS_DEVREG_E_CLOCK_SKEW:
        return "the login authenticator time is outside the clock skew";
    default:
        return "unknown devreg error code";
    }
}

/* ---- KRB5PrincipalName -------------------------------------------------- */

/* Set s (allocated by the template, or new) to the bytes of d. */
static krb5_error_code
string_to_asn1(ASN1_STRING *s, const krb5_data *d)
{
    if (s == NULL || d->length > INT_MAX ||
        (d->data == NULL && d->length > 0))
        return EINVAL;
    if (!ASN1_STRING_set(s, d->data, (int)d->length)) {
        ERR_clear_error();
        return ENOMEM;
    }
    return 0;
}

/* Build the template structure of KRB5PrincipalName for princ. */
static krb5_error_code
principal_to_asn1(krb5_const_principal princ, KS_KRB5_PRINCIPAL_NAME **out)
{
    KS_KRB5_PRINCIPAL_NAME *pn;
    ASN1_GENERALSTRING *comp = NULL;
    krb5_error_code ret;
    krb5_int32 i;

    if (princ == NULL || princ->length < 0 ||
        (princ->data == NULL && princ->length > 0))
        return EINVAL;
    pn = (KS_KRB5_PRINCIPAL_NAME *)
        ASN1_item_new(ASN1_ITEM_rptr(KS_KRB5_PRINCIPAL_NAME));
    if (pn == NULL)
        return ENOMEM;
    ret = string_to_asn1(pn->realm, &princ->realm);
    if (ret)
        goto cleanup;
    pn->principal_name->name_type = princ->type;
    for (i = 0; i < princ->length; i++) {
        comp = ASN1_GENERALSTRING_new();
        if (comp == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        ret = string_to_asn1(comp, &princ->data[i]);
        if (ret)
            goto cleanup;
        if (!sk_ASN1_GENERALSTRING_push(pn->principal_name->name_string,
                                        comp)) {
            ret = ENOMEM;
            goto cleanup;
        }
        comp = NULL;
    }
    *out = pn;
    pn = NULL;

cleanup:
    ASN1_GENERALSTRING_free(comp);
    ASN1_item_free((ASN1_VALUE *)pn, ASN1_ITEM_rptr(KS_KRB5_PRINCIPAL_NAME));
    return ret;
}

krb5_error_code
ks_krb5_principal_name_der(krb5_context ctx, krb5_const_principal princ,
                           unsigned char **der, size_t *len)
{
    KS_KRB5_PRINCIPAL_NAME *pn = NULL;
    krb5_error_code ret;

    ret = principal_to_asn1(princ, &pn);
    if (ret)
        return ret;
    ret = ks_der_encode(ASN1_ITEM_rptr(KS_KRB5_PRINCIPAL_NAME),
                        (ASN1_VALUE *)pn, der, len);
    ASN1_item_free((ASN1_VALUE *)pn, ASN1_ITEM_rptr(KS_KRB5_PRINCIPAL_NAME));
    return ret;
}

/* Point d at the bytes of s (no copy) if s holds at most max bytes. */
static krb5_error_code
string_view(const ASN1_STRING *s, size_t max, krb5_data *d)
{
    if (s == NULL || s->length < 0 || (s->data == NULL && s->length > 0))
        return ASN1_MISSING_FIELD;
    if ((size_t)s->length > max)
        return ASN1_BAD_FORMAT;
    d->magic = KV5M_DATA;
    d->length = s->length;
    d->data = (char *)s->data;
    return 0;
}

krb5_error_code
ks_krb5_principal_name_decode(krb5_context ctx, const unsigned char *der,
                              size_t len, krb5_principal *princ_out)
{
    KS_KRB5_PRINCIPAL_NAME *pn = NULL;
    krb5_principal_data view;
    krb5_data *comps = NULL;
    krb5_error_code ret;
    int i, n;

    memset(&view, 0, sizeof(view));
    ret = ks_der_decode(ASN1_ITEM_rptr(KS_KRB5_PRINCIPAL_NAME), der, len,
                        (ASN1_VALUE **)&pn);
    if (ret)
        return ret;
    if (pn->principal_name == NULL ||
        pn->principal_name->name_string == NULL) {
        ret = ASN1_MISSING_FIELD;
        goto cleanup;
    }
    ret = string_view(pn->realm, KS_PRINC_MAX_STRING, &view.realm);
    if (ret)
        goto cleanup;
    n = sk_ASN1_GENERALSTRING_num(pn->principal_name->name_string);
    if (view.realm.length == 0 || n < 1 || n > KS_PRINC_MAX_COMPONENTS) {
        ret = ASN1_BAD_FORMAT;
        goto cleanup;
    }
    comps = calloc(n, sizeof(*comps));
    if (comps == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    for (i = 0; i < n; i++) {
        ret = string_view(sk_ASN1_GENERALSTRING_value(
                              pn->principal_name->name_string, i),
                          KS_PRINC_MAX_STRING, &comps[i]);
        if (ret)
            goto cleanup;
    }
    view.magic = KV5M_PRINCIPAL;
    view.type = pn->principal_name->name_type;
    view.length = n;
    view.data = comps;
    ret = krb5_copy_principal(ctx, &view, princ_out);

cleanup:
    free(comps);
    ASN1_item_free((ASN1_VALUE *)pn, ASN1_ITEM_rptr(KS_KRB5_PRINCIPAL_NAME));
    return ret;
}

/* ---- RFC 8636 OtherInfo ------------------------------------------------- */

/* DER KRB5PrincipalName of princ into *osp. */
static krb5_error_code
principal_octets(krb5_context ctx, krb5_const_principal princ,
                 ASN1_OCTET_STRING **osp)
{
    unsigned char *der = NULL;
    size_t len = 0;
    krb5_error_code ret;

    ret = ks_krb5_principal_name_der(ctx, princ, &der, &len);
    if (ret)
        return ret;
    ret = ks_octets_to_asn1(osp, der, len);
    free(der);
    return ret;
}

/* DER PkinitSuppPubInfo into a new *os_out. */
static krb5_error_code
supp_pub_info_octets(krb5_enctype enctype, const krb5_data *as_req,
                     const krb5_data *pk_as_rep, ASN1_OCTET_STRING **os_out)
{
    KS_SUPP_PUB_INFO *spi;
    ASN1_OCTET_STRING *os = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    krb5_error_code ret;

    spi = (KS_SUPP_PUB_INFO *)ASN1_item_new(ASN1_ITEM_rptr(KS_SUPP_PUB_INFO));
    if (spi == NULL)
        return ENOMEM;
    spi->enctype = enctype;
    ret = ks_octets_to_asn1(&spi->as_req, as_req->data, as_req->length);
    if (ret)
        goto cleanup;
    ret = ks_octets_to_asn1(&spi->pk_as_rep, pk_as_rep->data,
                            pk_as_rep->length);
    if (ret)
        goto cleanup;
    ret = ks_der_encode(ASN1_ITEM_rptr(KS_SUPP_PUB_INFO), (ASN1_VALUE *)spi,
                        &der, &len);
    if (ret)
        goto cleanup;
    ret = ks_octets_to_asn1(&os, der, len);
    if (ret)
        goto cleanup;
    *os_out = os;
    os = NULL;

cleanup:
    free(der);
    ASN1_OCTET_STRING_free(os);
    ASN1_item_free((ASN1_VALUE *)spi, ASN1_ITEM_rptr(KS_SUPP_PUB_INFO));
    return ret;
}

krb5_error_code
ks_pkinit_other_info_der(krb5_context ctx, const char *kdf_oid,
                         krb5_const_principal client,
                         krb5_const_principal server, krb5_enctype enctype,
                         const krb5_data *as_req, const krb5_data *pk_as_rep,
                         unsigned char **der, size_t *len)
{
    KS_OTHER_INFO *oi;
    ASN1_OBJECT *obj = NULL;
    krb5_error_code ret;

    if (kdf_oid == NULL || as_req == NULL || pk_as_rep == NULL ||
        (as_req->data == NULL && as_req->length > 0) ||
        (pk_as_rep->data == NULL && pk_as_rep->length > 0))
        return EINVAL;
    oi = (KS_OTHER_INFO *)ASN1_item_new(ASN1_ITEM_rptr(KS_OTHER_INFO));
    if (oi == NULL)
        return ENOMEM;
    obj = OBJ_txt2obj(kdf_oid, 1);
    if (obj == NULL) {
        ret = EINVAL;
        goto cleanup;
    }
    /* V_ASN1_UNDEF: the parameters field is absent, as RFC 8636 says. */
    if (!X509_ALGOR_set0(oi->algorithm, obj, V_ASN1_UNDEF, NULL)) {
        ret = ENOMEM;
        goto cleanup;
    }
    obj = NULL;
    ret = principal_octets(ctx, client, &oi->party_u_info);
    if (ret)
        goto cleanup;
    ret = principal_octets(ctx, server, &oi->party_v_info);
    if (ret)
        goto cleanup;
    ret = supp_pub_info_octets(enctype, as_req, pk_as_rep,
                               &oi->supp_pub_info);
    if (ret)
        goto cleanup;
    ret = ks_der_encode(ASN1_ITEM_rptr(KS_OTHER_INFO), (ASN1_VALUE *)oi, der,
                        len);

cleanup:
    ASN1_OBJECT_free(obj);
    ASN1_item_free((ASN1_VALUE *)oi, ASN1_ITEM_rptr(KS_OTHER_INFO));
    ERR_clear_error();
    return ret;
}

/* ---- authorization data ------------------------------------------------- */

/* A growing NULL-terminated list of indicator strings. */
struct indicator_list {
    char **v;
    size_t n;
};

/* Free list->v and every string in it. */
static void
indicator_list_clear(struct indicator_list *list)
{
    size_t i;

    for (i = 0; i < list->n; i++)
        free(list->v[i]);
    free(list->v);
    list->v = NULL;
    list->n = 0;
}

/* Append the indicators of one DER AD-AUTH-INDICATOR to list. */
static krb5_error_code
add_indicators(const ASN1_OCTET_STRING *data, struct indicator_list *list)
{
    KS_AUTH_INDICATOR *ai = NULL;
    char **nv, *s = NULL;
    krb5_error_code ret;
    int i, n;

    if (data == NULL || data->data == NULL)
        return ASN1_MISSING_FIELD;
    ret = ks_der_decode(ASN1_ITEM_rptr(KS_AUTH_INDICATOR), data->data,
                        data->length, (ASN1_VALUE **)&ai);
    if (ret)
        return ret;
    n = sk_ASN1_UTF8STRING_num(ai);
    for (i = 0; i < n; i++) {
        if (list->n >= KS_MAX_INDICATORS) {
            ret = ASN1_OVERFLOW;
            goto cleanup;
        }
        ret = ks_text_from_asn1(sk_ASN1_UTF8STRING_value(ai, i), 0,
                                KS_MAX_INDICATOR_LEN, &s);
        if (ret)
            goto cleanup;
        nv = realloc(list->v, (list->n + 2) * sizeof(*nv));
        if (nv == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        list->v = nv;
        list->v[list->n++] = s;
        list->v[list->n] = NULL;
        s = NULL;
    }

cleanup:
    free(s);
    ASN1_item_free((ASN1_VALUE *)ai, ASN1_ITEM_rptr(KS_AUTH_INDICATOR));
    return ret;
}

/* Append the indicators of the AD-AUTH-INDICATOR elements of one DER
 * AD-CAMMAC to list. */
static krb5_error_code
add_cammac(const ASN1_OCTET_STRING *data, struct indicator_list *list)
{
    KS_CAMMAC *cammac = NULL;
    const KS_AD_ELEMENT *e;
    krb5_error_code ret;
    int i, n;

    if (data == NULL || data->data == NULL)
        return ASN1_MISSING_FIELD;
    ret = ks_der_decode(ASN1_ITEM_rptr(KS_CAMMAC), data->data, data->length,
                        (ASN1_VALUE **)&cammac);
    if (ret)
        return ret;
    if (cammac->elements == NULL) {
        ret = ASN1_MISSING_FIELD;
        goto cleanup;
    }
    n = sk_KS_AD_ELEMENT_num(cammac->elements);
    for (i = 0; i < n; i++) {
        e = sk_KS_AD_ELEMENT_value(cammac->elements, i);
        if (e == NULL) {
            ret = ASN1_MISSING_FIELD;
            goto cleanup;
        }
        if (e->ad_type != KS_AD_AUTH_INDICATOR)
            continue;
        ret = add_indicators(e->ad_data, list);
        if (ret)
            goto cleanup;
    }

cleanup:
    ASN1_item_free((ASN1_VALUE *)cammac, ASN1_ITEM_rptr(KS_CAMMAC));
    return ret;
}

/* Append the indicators of the AD-CAMMAC elements of one AD-IF-RELEVANT
 * (DER AuthorizationData, len bytes at der) to list. */
static krb5_error_code
add_if_relevant(const unsigned char *der, size_t len,
                struct indicator_list *list)
{
    KS_AUTHDATA *ad = NULL;
    const KS_AD_ELEMENT *e;
    krb5_error_code ret;
    int i, n;

    ret = ks_der_decode(ASN1_ITEM_rptr(KS_AUTHDATA), der, len,
                        (ASN1_VALUE **)&ad);
    if (ret)
        return ret;
    n = sk_KS_AD_ELEMENT_num(ad);
    for (i = 0; i < n; i++) {
        e = sk_KS_AD_ELEMENT_value(ad, i);
        if (e == NULL) {
            ret = ASN1_MISSING_FIELD;
            goto cleanup;
        }
        if (e->ad_type != KS_AD_CAMMAC)
            continue;
        ret = add_cammac(e->ad_data, list);
        if (ret)
            goto cleanup;
    }

cleanup:
    ASN1_item_free((ASN1_VALUE *)ad, ASN1_ITEM_rptr(KS_AUTHDATA));
    return ret;
}

krb5_error_code
ks_authdata_indicators(krb5_context ctx, krb5_authdata *const *ticket_authdata,
                       char ***indicators_out)
{
    struct indicator_list list = { NULL, 0 };
    const krb5_authdata *ad;
    krb5_error_code ret = 0;
    size_t i;

    list.v = calloc(1, sizeof(*list.v));
    if (list.v == NULL)
        return ENOMEM;
    for (i = 0; ticket_authdata != NULL && ticket_authdata[i] != NULL; i++) {
        ad = ticket_authdata[i];
        if (ad->ad_type != KS_AD_IF_RELEVANT)
            continue;
        ret = add_if_relevant(ad->contents, ad->length, &list);
        if (ret)
            break;
    }
    if (ret) {
        indicator_list_clear(&list);
        if (ctx != NULL) {
            krb5_set_error_message(ctx, ret,
                                   "malformed auth indicators in ticket "
                                   "authorization data (AD-IF-RELEVANT / "
                                   "AD-CAMMAC / AD-AUTH-INDICATOR): %s",
                                   error_message(ret));
        }
        return ret;
    }
    *indicators_out = list.v;
    return 0;
}

void
ks_free_indicators(char **indicators)
{
    size_t i;

    if (indicators == NULL)
        return;
    for (i = 0; indicators[i] != NULL; i++)
        free(indicators[i]);
    free(indicators);
}

/* Fill the stack st with one element per entry of list. */
static krb5_error_code
elements_to_asn1(krb5_authdata *const *list, STACK_OF(KS_AD_ELEMENT) *st)
{
    KS_AD_ELEMENT *e = NULL;
    krb5_error_code ret;
    size_t i;

    if (st == NULL)
        return EINVAL;
    for (i = 0; list != NULL && list[i] != NULL; i++) {
        if (list[i]->contents == NULL && list[i]->length > 0)
            return EINVAL;
        e = (KS_AD_ELEMENT *)ASN1_item_new(ASN1_ITEM_rptr(KS_AD_ELEMENT));
        if (e == NULL)
            return ENOMEM;
        e->ad_type = list[i]->ad_type;
        ret = ks_octets_to_asn1(&e->ad_data, list[i]->contents,
                                list[i]->length);
        if (ret == 0 && !sk_KS_AD_ELEMENT_push(st, e))
            ret = ENOMEM;
        if (ret) {
            ASN1_item_free((ASN1_VALUE *)e, ASN1_ITEM_rptr(KS_AD_ELEMENT));
            return ret;
        }
    }
    return 0;
}

krb5_error_code
ks_authdata_encode(krb5_authdata *const *list, unsigned char **der,
                   size_t *len)
{
    KS_AUTHDATA *ad;
    krb5_error_code ret;

    ad = (KS_AUTHDATA *)ASN1_item_new(ASN1_ITEM_rptr(KS_AUTHDATA));
    if (ad == NULL)
        return ENOMEM;
    ret = elements_to_asn1(list, ad);
    if (!ret) {
        ret = ks_der_encode(ASN1_ITEM_rptr(KS_AUTHDATA), (ASN1_VALUE *)ad, der,
                            len);
    }
    ASN1_item_free((ASN1_VALUE *)ad, ASN1_ITEM_rptr(KS_AUTHDATA));
    return ret;
}

krb5_error_code
ks_cammac_encode(krb5_authdata *const *elements, unsigned char **der,
                 size_t *len)
{
    KS_CAMMAC *cammac;
    krb5_error_code ret;

    cammac = (KS_CAMMAC *)ASN1_item_new(ASN1_ITEM_rptr(KS_CAMMAC));
    if (cammac == NULL)
        return ENOMEM;
    ret = elements_to_asn1(elements, cammac->elements);
    if (!ret) {
        ret = ks_der_encode(ASN1_ITEM_rptr(KS_CAMMAC), (ASN1_VALUE *)cammac,
                            der, len);
    }
    ASN1_item_free((ASN1_VALUE *)cammac, ASN1_ITEM_rptr(KS_CAMMAC));
    return ret;
}

krb5_error_code
ks_auth_indicator_encode(char *const *indicators, unsigned char **der,
                         size_t *len)
{
    KS_AUTH_INDICATOR *ai;
    ASN1_UTF8STRING *s = NULL;
    krb5_error_code ret = 0;
    size_t i;

    ai = (KS_AUTH_INDICATOR *)ASN1_item_new(ASN1_ITEM_rptr(KS_AUTH_INDICATOR));
    if (ai == NULL)
        return ENOMEM;
    for (i = 0; indicators != NULL && indicators[i] != NULL; i++) {
        if (!ks_text_valid(indicators[i], 0, KS_MAX_INDICATOR_LEN)) {
            ret = EINVAL;
            goto cleanup;
        }
        s = ASN1_UTF8STRING_new();
        if (s == NULL ||
            !ASN1_STRING_set(s, indicators[i], (int)strlen(indicators[i])) ||
            !sk_ASN1_UTF8STRING_push(ai, s)) {
            ret = ENOMEM;
            goto cleanup;
        }
        s = NULL;
    }
    ret = ks_der_encode(ASN1_ITEM_rptr(KS_AUTH_INDICATOR), (ASN1_VALUE *)ai,
                        der, len);

cleanup:
    ASN1_UTF8STRING_free(s);
    ASN1_item_free((ASN1_VALUE *)ai, ASN1_ITEM_rptr(KS_AUTH_INDICATOR));
    ERR_clear_error();
    return ret;
}

krb5_error_code
ks_authdata_decode(const unsigned char *der, size_t len,
                   krb5_authdata ***list_out)
{
    KS_AUTHDATA *ad = NULL;
    krb5_authdata **list = NULL;
    const KS_AD_ELEMENT *e;
    krb5_error_code ret;
    int i, n;

    ret = ks_der_decode(ASN1_ITEM_rptr(KS_AUTHDATA), der, len,
                        (ASN1_VALUE **)&ad);
    if (ret)
        return ret;
    n = sk_KS_AD_ELEMENT_num(ad);
    list = calloc(n + 1, sizeof(*list));
    if (list == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    for (i = 0; i < n; i++) {
        e = sk_KS_AD_ELEMENT_value(ad, i);
        if (e == NULL || e->ad_data == NULL || e->ad_data->length < 0) {
            ret = ASN1_MISSING_FIELD;
            goto cleanup;
        }
        list[i] = calloc(1, sizeof(*list[i]));
        if (list[i] == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        list[i]->magic = KV5M_AUTHDATA;
        list[i]->ad_type = e->ad_type;
        list[i]->contents = malloc(e->ad_data->length > 0 ?
                                   e->ad_data->length : 1);
        if (list[i]->contents == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        if (e->ad_data->length > 0)
            memcpy(list[i]->contents, e->ad_data->data, e->ad_data->length);
        list[i]->length = e->ad_data->length;
    }
    *list_out = list;
    list = NULL;

cleanup:
    krb5_free_authdata(NULL, list);
    ASN1_item_free((ASN1_VALUE *)ad, ASN1_ITEM_rptr(KS_AUTHDATA));
    return ret;
}
