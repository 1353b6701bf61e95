/*
 * Codecs of the tempkey messages (see ks_tempkey_asn1.h for the module and
 * the rules callers rely on), as OpenSSL ASN.1 templates in the style of
 * ks_asn1.c: EXPLICIT tags, so every context tag wraps its field.
 *
 * Decoding is two steps, with ks_asn1.c's building blocks (ks_asn1.h):
 * ks_der_decode() turns bytes into the template structure and refuses
 * anything that is not exactly one DER value (it re-encodes and compares,
 * which rejects every BER variant OpenSSL's decoder tolerates); then a
 * *_from_asn1() function copies each field out, checking that it is
 * present, and the validator the encoder also uses checks ranges and
 * caps.  Every refusal of input is
 * ASN1_PARSE_ERROR (tk_refusal() maps the finer codes of ks_asn1.h): the
 * KDC answers each one with KS_TEMPKEY_E_MALFORMED, so finer codes would
 * only be noise.
 *
 * TempkeyKeys holds key bytes.  The KS_TK_KEY template has a free callback
 * that cleanses its key OCTET STRING, so every copy OpenSSL makes of a key
 * (decoded, built for encoding, or half-decoded when d2i fails) is zeroed
 * when the template structure is freed; the re-encoding made for the DER
 * check is cleansed too (ks_der_decode_secret), and ks_tempkey_keys_free()
 * zeroes the C copies.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "ks_tempkey_asn1.h"
#include "ks_util.h"

/* Caps the module leaves implicit: an unparsed principal (as
 * FreshnessPlain.client) and a checksum (the largest krb5 checksum,
 * hmac-sha384-192, is 24 bytes; 64 leaves room). */
#define KS_TEMPKEY_MAX_PRINCIPAL    KS_DEVREG_MAX_CLIENT
#define KS_TEMPKEY_MAX_CHECKSUM     64

/* ---- templates ---------------------------------------------------------- */

typedef struct {
    ASN1_OCTET_STRING *freshness_token;
    int32_t max_life;
    ASN1_OCTET_STRING *kdc_cert;
    STACK_OF(ASN1_INTEGER) *enctypes;
} KS_TK_CHALLENGE;

ASN1_SEQUENCE(KS_TK_CHALLENGE) = {
    ASN1_EXP(KS_TK_CHALLENGE, freshness_token, ASN1_OCTET_STRING, 0),
    ASN1_EXP_EMBED(KS_TK_CHALLENGE, max_life, INT32, 1),
    ASN1_EXP_OPT(KS_TK_CHALLENGE, kdc_cert, ASN1_OCTET_STRING, 2),
    ASN1_EXP_SEQUENCE_OF_OPT(KS_TK_CHALLENGE, enctypes, ASN1_INTEGER, 3),
} static_ASN1_SEQUENCE_END(KS_TK_CHALLENGE)

typedef struct {
    ASN1_OCTET_STRING *signed_request;
} KS_TK_REQUEST;

ASN1_SEQUENCE(KS_TK_REQUEST) = {
    ASN1_EXP(KS_TK_REQUEST, signed_request, ASN1_OCTET_STRING, 0),
} static_ASN1_SEQUENCE_END(KS_TK_REQUEST)

typedef struct {
    int32_t key_id;
    int64_t expiry;
    int64_t renew_by;
    int32_t cksumtype;
    ASN1_OCTET_STRING *checksum;
} KS_TK_REPLY;

ASN1_SEQUENCE(KS_TK_REPLY) = {
    ASN1_EXP_EMBED(KS_TK_REPLY, key_id, INT32, 0),
    ASN1_EXP_EMBED(KS_TK_REPLY, expiry, INT64, 1),
    ASN1_EXP_EMBED(KS_TK_REPLY, renew_by, INT64, 2),
    ASN1_EXP_EMBED(KS_TK_REPLY, cksumtype, INT32, 3),
    ASN1_EXP(KS_TK_REPLY, checksum, ASN1_OCTET_STRING, 4),
} static_ASN1_SEQUENCE_END(KS_TK_REPLY)

typedef struct {
    int32_t code;
    ASN1_UTF8STRING *text;
} KS_TK_ERROR;

ASN1_SEQUENCE(KS_TK_ERROR) = {
    ASN1_EXP_EMBED(KS_TK_ERROR, code, INT32, 0),
    ASN1_EXP_OPT(KS_TK_ERROR, text, ASN1_UTF8STRING, 1),
} static_ASN1_SEQUENCE_END(KS_TK_ERROR)

typedef struct {
    int type;                   /* CHOICE selector: the tag number */
    union {
        KS_TK_CHALLENGE *challenge;
        KS_TK_REQUEST *request;
        KS_TK_REPLY *reply;
        KS_TK_ERROR *error;
    } value;
} KS_TK_MESSAGE;

ASN1_CHOICE(KS_TK_MESSAGE) = {
    ASN1_EXP(KS_TK_MESSAGE, value.challenge, KS_TK_CHALLENGE, 0),
    ASN1_EXP(KS_TK_MESSAGE, value.request, KS_TK_REQUEST, 1),
    ASN1_EXP(KS_TK_MESSAGE, value.reply, KS_TK_REPLY, 2),
    ASN1_EXP(KS_TK_MESSAGE, value.error, KS_TK_ERROR, 3),
} static_ASN1_CHOICE_END(KS_TK_MESSAGE)

typedef struct {
    int32_t version;
    ASN1_UTF8STRING *principal;
    ASN1_OCTET_STRING *freshness_token;
    ASN1_OCTET_STRING *req_body_hash;
    int32_t key_id;
    int64_t expiry;
    ASN1_OCTET_STRING *sealed_keys;
} KS_TK_REQUEST_BODY;

ASN1_SEQUENCE(KS_TK_REQUEST_BODY) = {
    ASN1_EXP_EMBED(KS_TK_REQUEST_BODY, version, INT32, 0),
    ASN1_EXP(KS_TK_REQUEST_BODY, principal, ASN1_UTF8STRING, 1),
    ASN1_EXP(KS_TK_REQUEST_BODY, freshness_token, ASN1_OCTET_STRING, 2),
    ASN1_EXP(KS_TK_REQUEST_BODY, req_body_hash, ASN1_OCTET_STRING, 3),
    ASN1_EXP_EMBED(KS_TK_REQUEST_BODY, key_id, INT32, 4),
    ASN1_EXP_EMBED(KS_TK_REQUEST_BODY, expiry, INT64, 5),
    ASN1_EXP(KS_TK_REQUEST_BODY, sealed_keys, ASN1_OCTET_STRING, 6),
} static_ASN1_SEQUENCE_END(KS_TK_REQUEST_BODY)

typedef struct {
    int32_t enctype;
    ASN1_OCTET_STRING *key;
} KS_TK_KEY;

/* Template callback of TempkeyKey: cleanse the key bytes before OpenSSL
 * frees them, whoever frees the structure. */
static int
tk_key_cb(int operation, ASN1_VALUE **pval, const ASN1_ITEM *it,
          void *exarg)
{
    KS_TK_KEY *k;

    (void)it;
    (void)exarg;
    if (operation == ASN1_OP_FREE_PRE && pval != NULL && *pval != NULL) {
        k = (KS_TK_KEY *)*pval;
        if (k->key != NULL && k->key->data != NULL && k->key->length > 0)
            OPENSSL_cleanse(k->key->data, (size_t)k->key->length);
    }
    return 1;
}

ASN1_SEQUENCE_cb(KS_TK_KEY, tk_key_cb) = {
    ASN1_EXP_EMBED(KS_TK_KEY, enctype, INT32, 0),
    ASN1_EXP(KS_TK_KEY, key, ASN1_OCTET_STRING, 1),
} static_ASN1_SEQUENCE_END_cb(KS_TK_KEY, KS_TK_KEY)

DEFINE_STACK_OF(KS_TK_KEY)

typedef STACK_OF(KS_TK_KEY) KS_TK_KEYS;

ASN1_ITEM_TEMPLATE(KS_TK_KEYS) =
    ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, keys, KS_TK_KEY)
static_ASN1_ITEM_TEMPLATE_END(KS_TK_KEYS)

typedef struct {
    int32_t key_id;
    int64_t expiry;
    int64_t renew_by;
    ASN1_OCTET_STRING *req_body_hash;
} KS_TK_REPLY_BODY;

ASN1_SEQUENCE(KS_TK_REPLY_BODY) = {
    ASN1_EXP_EMBED(KS_TK_REPLY_BODY, key_id, INT32, 0),
    ASN1_EXP_EMBED(KS_TK_REPLY_BODY, expiry, INT64, 1),
    ASN1_EXP_EMBED(KS_TK_REPLY_BODY, renew_by, INT64, 2),
    ASN1_EXP(KS_TK_REPLY_BODY, req_body_hash, ASN1_OCTET_STRING, 3),
} static_ASN1_SEQUENCE_END(KS_TK_REPLY_BODY)

/* ---- DER in and out, field helpers ------------------------------------- */

/*
 * The DER wrappers and field helpers are ks_asn1.c's (ks_asn1.h), which
 * name finer causes of a refusal; every refusal of input here is
 * ASN1_PARSE_ERROR (see the top of this file).
 */
static krb5_error_code
tk_refusal(krb5_error_code ret)
{
    return (ret == 0 || ret == ENOMEM) ? ret : ASN1_PARSE_ERROR;
}

/* Nonzero if id is a key id (a 16-bit kvno other than 0). */
static int
key_id_valid(uint32_t id)
{
    return id >= KS_TEMPKEY_ID_MIN && id <= KS_TEMPKEY_ID_MAX;
}

/* ---- validators shared by encoders and decoders ------------------------- */

/*
 * Each *_valid() returns nonzero if a structure respects the module of
 * ks_tempkey_asn1.h.  Encoders call it before encoding and decoders after
 * copying the fields out, so both refuse the same values.
 */

static int
challenge_valid(const struct ks_tempkey_challenge *c)
{
    if (!ks_octets_valid(&c->freshness_token, 0, KS_DEVREG_MAX_TOKEN) ||
        c->max_life < 1 ||
        !ks_octets_valid(&c->kdc_cert, 0, KS_TEMPKEY_MAX_CMS) ||
        c->nenctypes > KS_TEMPKEY_MAX_KEYS)
        return 0;
    return c->nenctypes == 0 || c->enctypes != NULL;
}

static int
request_valid(const struct ks_tempkey_request *r)
{
    return ks_octets_valid(&r->signed_request, 1, KS_TEMPKEY_MAX_CMS);
}

static int
reply_valid(const struct ks_tempkey_reply *r)
{
    return key_id_valid(r->key_id) &&
        ks_octets_valid(&r->checksum, 1, KS_TEMPKEY_MAX_CHECKSUM);
}

static int
error_valid(const struct ks_tempkey_error *e)
{
    return e->text == NULL || ks_text_valid(e->text, 0, KS_DEVREG_MAX_TEXT);
}

static int
request_body_valid(const struct ks_tempkey_request_body *b)
{
    return b->version == KS_TEMPKEY_VERSION &&
        ks_text_valid(b->principal, 1, KS_TEMPKEY_MAX_PRINCIPAL) &&
        ks_octets_valid(&b->freshness_token, 0, KS_DEVREG_MAX_TOKEN) &&
        key_id_valid(b->key_id) &&
        ks_octets_valid(&b->sealed_keys, 1, KS_TEMPKEY_MAX_CMS);
}

static int
keys_valid(const struct ks_tempkey_keys *k)
{
    size_t i;

    if (k->keys == NULL || k->n < 1 || k->n > KS_TEMPKEY_MAX_KEYS)
        return 0;
    for (i = 0; i < k->n; i++) {
        if (!ks_octets_valid(&k->keys[i].key, 1, KS_TEMPKEY_MAX_KEY_LEN))
            return 0;
    }
    return 1;
}

/* ---- TempkeyMessage ----------------------------------------------------- */

/* Build the template structure of TempkeyChallenge from in. */
static krb5_error_code
challenge_to_asn1(const struct ks_tempkey_challenge *in,
                  KS_TK_CHALLENGE **out)
{
    KS_TK_CHALLENGE *c;
    ASN1_INTEGER *e = NULL;
    krb5_error_code ret;
    size_t i;

    if (!challenge_valid(in))
        return EINVAL;
    c = (KS_TK_CHALLENGE *)ASN1_item_new(ASN1_ITEM_rptr(KS_TK_CHALLENGE));
    if (c == NULL)
        return ENOMEM;
    c->max_life = in->max_life;
    ret = ks_octets_to_asn1(&c->freshness_token, in->freshness_token.data,
                            in->freshness_token.length);
    if (ret)
        goto cleanup;
    /* OPTIONAL fields: length 0 / no enctypes means absent. */
    if (in->kdc_cert.length > 0) {
        ret = ks_octets_to_asn1(&c->kdc_cert, in->kdc_cert.data,
                                in->kdc_cert.length);
        if (ret)
            goto cleanup;
    }
    if (in->nenctypes > 0) {
        c->enctypes = sk_ASN1_INTEGER_new_null();
        if (c->enctypes == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
    }
    for (i = 0; i < in->nenctypes; i++) {
        e = ASN1_INTEGER_new();
        if (e == NULL || !ASN1_INTEGER_set_int64(e, in->enctypes[i]) ||
            !sk_ASN1_INTEGER_push(c->enctypes, e)) {
            ret = ENOMEM;
            goto cleanup;
        }
        e = NULL;
    }
    *out = c;
    c = NULL;

cleanup:
    ASN1_INTEGER_free(e);
    ASN1_item_free((ASN1_VALUE *)c, ASN1_ITEM_rptr(KS_TK_CHALLENGE));
    ERR_clear_error();
    return ret;
}

/* Copy a decoded TempkeyChallenge into out (freed by the caller on
 * error). */
static krb5_error_code
challenge_from_asn1(const KS_TK_CHALLENGE *c, struct ks_tempkey_challenge *out)
{
    krb5_error_code ret;
    int64_t v;
    int i, n;

    out->max_life = c->max_life;
    ret = ks_octets_from_asn1(c->freshness_token, 0, KS_DEVREG_MAX_TOKEN,
                              &out->freshness_token);
    if (ret)
        return ret;
    /* Present means non-empty: an empty certificate or enctype list would
     * encode differently from an absent one and mean nothing. */
    if (c->kdc_cert != NULL) {
        ret = ks_octets_from_asn1(c->kdc_cert, 1, KS_TEMPKEY_MAX_CMS,
                                  &out->kdc_cert);
        if (ret)
            return ret;
    }
    if (c->enctypes != NULL) {
        n = sk_ASN1_INTEGER_num(c->enctypes);
        if (n < 1 || n > KS_TEMPKEY_MAX_KEYS)
            return ASN1_PARSE_ERROR;
        out->enctypes = calloc(n, sizeof(*out->enctypes));
        if (out->enctypes == NULL)
            return ENOMEM;
        for (i = 0; i < n; i++) {
            const ASN1_INTEGER *e = sk_ASN1_INTEGER_value(c->enctypes, i);

            if (e == NULL || !ASN1_INTEGER_get_int64(&v, e) ||
                v < INT32_MIN || v > INT32_MAX) {
                ERR_clear_error();
                return ASN1_PARSE_ERROR;
            }
            out->enctypes[i] = (krb5_enctype)v;
        }
        out->nenctypes = n;
    }
    return challenge_valid(out) ? 0 : ASN1_PARSE_ERROR;
}

/* Build the template structure of TempkeyRequest from in. */
static krb5_error_code
request_to_asn1(const struct ks_tempkey_request *in, KS_TK_REQUEST **out)
{
    KS_TK_REQUEST *r;
    krb5_error_code ret;

    if (!request_valid(in))
        return EINVAL;
    r = (KS_TK_REQUEST *)ASN1_item_new(ASN1_ITEM_rptr(KS_TK_REQUEST));
    if (r == NULL)
        return ENOMEM;
    ret = ks_octets_to_asn1(&r->signed_request, in->signed_request.data,
                            in->signed_request.length);
    if (ret) {
        ASN1_item_free((ASN1_VALUE *)r, ASN1_ITEM_rptr(KS_TK_REQUEST));
        return ret;
    }
    *out = r;
    return 0;
}

/* Copy a decoded TempkeyRequest into out. */
static krb5_error_code
request_from_asn1(const KS_TK_REQUEST *r, struct ks_tempkey_request *out)
{
    krb5_error_code ret;

    ret = ks_octets_from_asn1(r->signed_request, 1, KS_TEMPKEY_MAX_CMS,
                              &out->signed_request);
    if (ret)
        return ret;
    return request_valid(out) ? 0 : ASN1_PARSE_ERROR;
}

/* Build the template structure of TempkeyReply from in. */
static krb5_error_code
reply_to_asn1(const struct ks_tempkey_reply *in, KS_TK_REPLY **out)
{
    KS_TK_REPLY *r;
    krb5_error_code ret;

    if (!reply_valid(in))
        return EINVAL;
    r = (KS_TK_REPLY *)ASN1_item_new(ASN1_ITEM_rptr(KS_TK_REPLY));
    if (r == NULL)
        return ENOMEM;
    r->key_id = (int32_t)in->key_id;
    r->expiry = in->expiry;
    r->renew_by = in->renew_by;
    r->cksumtype = in->cksumtype;
    ret = ks_octets_to_asn1(&r->checksum, in->checksum.data,
                            in->checksum.length);
    if (ret) {
        ASN1_item_free((ASN1_VALUE *)r, ASN1_ITEM_rptr(KS_TK_REPLY));
        return ret;
    }
    *out = r;
    return 0;
}

/* Copy a decoded TempkeyReply into out. */
static krb5_error_code
reply_from_asn1(const KS_TK_REPLY *r, struct ks_tempkey_reply *out)
{
    krb5_error_code ret;

    if (r->key_id < KS_TEMPKEY_ID_MIN || r->key_id > KS_TEMPKEY_ID_MAX)
        return ASN1_PARSE_ERROR;
    out->key_id = (uint32_t)r->key_id;
    out->expiry = (time_t)r->expiry;
    out->renew_by = (time_t)r->renew_by;
    out->cksumtype = r->cksumtype;
    ret = ks_octets_from_asn1(r->checksum, 1, KS_TEMPKEY_MAX_CHECKSUM,
                              &out->checksum);
    if (ret)
        return ret;
    return reply_valid(out) ? 0 : ASN1_PARSE_ERROR;
}

/* Build the template structure of TempkeyError from in. */
static krb5_error_code
error_to_asn1(const struct ks_tempkey_error *in, KS_TK_ERROR **out)
{
    KS_TK_ERROR *e;
    krb5_error_code ret;

    if (!error_valid(in))
        return EINVAL;
    e = (KS_TK_ERROR *)ASN1_item_new(ASN1_ITEM_rptr(KS_TK_ERROR));
    if (e == NULL)
        return ENOMEM;
    e->code = in->code;
    if (in->text != NULL) {
        ret = ks_text_to_asn1(&e->text, in->text);
        if (ret) {
            ASN1_item_free((ASN1_VALUE *)e, ASN1_ITEM_rptr(KS_TK_ERROR));
            return ret;
        }
    }
    *out = e;
    return 0;
}

/* Copy a decoded TempkeyError into out. */
static krb5_error_code
error_from_asn1(const KS_TK_ERROR *e, struct ks_tempkey_error *out)
{
    krb5_error_code ret;

    out->code = e->code;
    if (e->text != NULL) {
        ret = ks_text_from_asn1(e->text, 0, KS_DEVREG_MAX_TEXT, &out->text);
        if (ret)
            return ret;
    }
    return error_valid(out) ? 0 : ASN1_PARSE_ERROR;
}

krb5_error_code
ks_tempkey_message_encode(const struct ks_tempkey_message *msg,
                          unsigned char **der_out, size_t *len_out)
{
    KS_TK_MESSAGE *m;
    krb5_error_code ret;

    if (msg == NULL || der_out == NULL || len_out == NULL)
        return EINVAL;
    m = (KS_TK_MESSAGE *)ASN1_item_new(ASN1_ITEM_rptr(KS_TK_MESSAGE));
    if (m == NULL)
        return ENOMEM;
    switch (msg->type) {
    case KS_TEMPKEY_MSG_CHALLENGE:
        ret = challenge_to_asn1(&msg->u.challenge, &m->value.challenge);
        break;
    case KS_TEMPKEY_MSG_REQUEST:
        ret = request_to_asn1(&msg->u.request, &m->value.request);
        break;
    case KS_TEMPKEY_MSG_REPLY:
        ret = reply_to_asn1(&msg->u.reply, &m->value.reply);
        break;
    case KS_TEMPKEY_MSG_ERROR:
        ret = error_to_asn1(&msg->u.error, &m->value.error);
        break;
    default:
        ret = EINVAL;
        break;
    }
    if (ret)
        goto cleanup;
    m->type = msg->type;
    ret = ks_der_encode(ASN1_ITEM_rptr(KS_TK_MESSAGE), (ASN1_VALUE *)m,
                        der_out, len_out);

cleanup:
    ASN1_item_free((ASN1_VALUE *)m, ASN1_ITEM_rptr(KS_TK_MESSAGE));
    return ret;
}

krb5_error_code
ks_tempkey_message_decode(const unsigned char *der, size_t len,
                          struct ks_tempkey_message **out)
{
    KS_TK_MESSAGE *m = NULL;
    struct ks_tempkey_message *msg = NULL;
    krb5_error_code ret;

    if (out == NULL || (der == NULL && len > 0))
        return EINVAL;
    ret = ks_der_decode(ASN1_ITEM_rptr(KS_TK_MESSAGE), der, len,
                        (ASN1_VALUE **)&m);
    if (ret)
        return tk_refusal(ret);
    msg = calloc(1, sizeof(*msg));
    if (msg == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    msg->type = m->type;
    switch (m->type) {
    case KS_TEMPKEY_MSG_CHALLENGE:
        ret = (m->value.challenge == NULL) ? ASN1_PARSE_ERROR :
            challenge_from_asn1(m->value.challenge, &msg->u.challenge);
        break;
    case KS_TEMPKEY_MSG_REQUEST:
        ret = (m->value.request == NULL) ? ASN1_PARSE_ERROR :
            request_from_asn1(m->value.request, &msg->u.request);
        break;
    case KS_TEMPKEY_MSG_REPLY:
        ret = (m->value.reply == NULL) ? ASN1_PARSE_ERROR :
            reply_from_asn1(m->value.reply, &msg->u.reply);
        break;
    case KS_TEMPKEY_MSG_ERROR:
        ret = (m->value.error == NULL) ? ASN1_PARSE_ERROR :
            error_from_asn1(m->value.error, &msg->u.error);
        break;
    default:
        /* Not reachable: the template knows only the four tags. */
        msg->type = KS_TEMPKEY_MSG_ERROR;
        ret = ASN1_PARSE_ERROR;
        break;
    }
    if (ret)
        goto cleanup;
    *out = msg;
    msg = NULL;

cleanup:
    ks_tempkey_message_free(msg);
    ASN1_item_free((ASN1_VALUE *)m, ASN1_ITEM_rptr(KS_TK_MESSAGE));
    return tk_refusal(ret);
}

void
ks_tempkey_message_free(struct ks_tempkey_message *m)
{
    if (m == NULL)
        return;
    switch (m->type) {
    case KS_TEMPKEY_MSG_CHALLENGE:
        free(m->u.challenge.freshness_token.data);
        free(m->u.challenge.kdc_cert.data);
        free(m->u.challenge.enctypes);
        break;
    case KS_TEMPKEY_MSG_REQUEST:
        free(m->u.request.signed_request.data);
        break;
    case KS_TEMPKEY_MSG_REPLY:
        free(m->u.reply.checksum.data);
        break;
    case KS_TEMPKEY_MSG_ERROR:
        free(m->u.error.text);
        break;
    }
    free(m);
}

/* ---- TempkeyRequestBody ------------------------------------------------- */

krb5_error_code
ks_tempkey_request_body_encode(const struct ks_tempkey_request_body *b,
                               unsigned char **der_out, size_t *len_out)
{
    KS_TK_REQUEST_BODY *a;
    krb5_error_code ret;

    if (b == NULL || der_out == NULL || len_out == NULL ||
        !request_body_valid(b))
        return EINVAL;
    a = (KS_TK_REQUEST_BODY *)ASN1_item_new(
        ASN1_ITEM_rptr(KS_TK_REQUEST_BODY));
    if (a == NULL)
        return ENOMEM;
    a->version = b->version;
    a->key_id = (int32_t)b->key_id;
    a->expiry = b->expiry;
    ret = ks_text_to_asn1(&a->principal, b->principal);
    if (ret)
        goto cleanup;
    ret = ks_octets_to_asn1(&a->freshness_token, b->freshness_token.data,
                            b->freshness_token.length);
    if (ret)
        goto cleanup;
    ret = ks_octets_to_asn1(&a->req_body_hash, b->req_body_hash,
                            sizeof(b->req_body_hash));
    if (ret)
        goto cleanup;
    ret = ks_octets_to_asn1(&a->sealed_keys, b->sealed_keys.data,
                            b->sealed_keys.length);
    if (ret)
        goto cleanup;
    ret = ks_der_encode(ASN1_ITEM_rptr(KS_TK_REQUEST_BODY), (ASN1_VALUE *)a,
                        der_out, len_out);

cleanup:
    ASN1_item_free((ASN1_VALUE *)a, ASN1_ITEM_rptr(KS_TK_REQUEST_BODY));
    return ret;
}

krb5_error_code
ks_tempkey_request_body_decode(const unsigned char *der, size_t len,
                               struct ks_tempkey_request_body **out)
{
    KS_TK_REQUEST_BODY *a = NULL;
    struct ks_tempkey_request_body *b = NULL;
    krb5_error_code ret;

    if (out == NULL || (der == NULL && len > 0))
        return EINVAL;
    ret = ks_der_decode(ASN1_ITEM_rptr(KS_TK_REQUEST_BODY), der, len,
                        (ASN1_VALUE **)&a);
    if (ret)
        return tk_refusal(ret);
    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    if (a->version != KS_TEMPKEY_VERSION ||
        a->key_id < KS_TEMPKEY_ID_MIN || a->key_id > KS_TEMPKEY_ID_MAX) {
        ret = ASN1_PARSE_ERROR;
        goto cleanup;
    }
    b->version = a->version;
    b->key_id = (uint32_t)a->key_id;
    b->expiry = (time_t)a->expiry;
    ret = ks_text_from_asn1(a->principal, 1, KS_TEMPKEY_MAX_PRINCIPAL,
                            &b->principal);
    if (ret)
        goto cleanup;
    ret = ks_octets_from_asn1(a->freshness_token, 0, KS_DEVREG_MAX_TOKEN,
                              &b->freshness_token);
    if (ret)
        goto cleanup;
    ret = ks_fixed_from_asn1(a->req_body_hash, b->req_body_hash,
                             sizeof(b->req_body_hash));
    if (ret)
        goto cleanup;
    ret = ks_octets_from_asn1(a->sealed_keys, 1, KS_TEMPKEY_MAX_CMS,
                              &b->sealed_keys);
    if (ret)
        goto cleanup;
    if (!request_body_valid(b)) {
        ret = ASN1_PARSE_ERROR;
        goto cleanup;
    }
    *out = b;
    b = NULL;

cleanup:
    ks_tempkey_request_body_free(b);
    ASN1_item_free((ASN1_VALUE *)a, ASN1_ITEM_rptr(KS_TK_REQUEST_BODY));
    return tk_refusal(ret);
}

void
ks_tempkey_request_body_free(struct ks_tempkey_request_body *b)
{
    if (b == NULL)
        return;
    free(b->principal);
    free(b->freshness_token.data);
    free(b->sealed_keys.data);
    free(b);
}

/* ---- TempkeyKeys -------------------------------------------------------- */

krb5_error_code
ks_tempkey_keys_encode(const struct ks_tempkey_keys *k,
                       unsigned char **der_out, size_t *len_out)
{
    KS_TK_KEYS *st;
    KS_TK_KEY *key = NULL;
    krb5_error_code ret = 0;
    size_t i;

    if (k == NULL || der_out == NULL || len_out == NULL || !keys_valid(k))
        return EINVAL;
    st = (KS_TK_KEYS *)ASN1_item_new(ASN1_ITEM_rptr(KS_TK_KEYS));
    if (st == NULL)
        return ENOMEM;
    for (i = 0; i < k->n; i++) {
        key = (KS_TK_KEY *)ASN1_item_new(ASN1_ITEM_rptr(KS_TK_KEY));
        if (key == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        key->enctype = k->keys[i].enctype;
        ret = ks_octets_to_asn1(&key->key, k->keys[i].key.data,
                                k->keys[i].key.length);
        if (ret)
            goto cleanup;
        if (!sk_KS_TK_KEY_push(st, key)) {
            ret = ENOMEM;
            goto cleanup;
        }
        key = NULL;
    }
    ret = ks_der_encode(ASN1_ITEM_rptr(KS_TK_KEYS), (ASN1_VALUE *)st,
                        der_out, len_out);

cleanup:
    /* Both frees go through tk_key_cb, which cleanses the key copies. */
    ASN1_item_free((ASN1_VALUE *)key, ASN1_ITEM_rptr(KS_TK_KEY));
    ASN1_item_free((ASN1_VALUE *)st, ASN1_ITEM_rptr(KS_TK_KEYS));
    return ret;
}

krb5_error_code
ks_tempkey_keys_decode(const unsigned char *der, size_t len,
                       struct ks_tempkey_keys **out)
{
    KS_TK_KEYS *st = NULL;
    struct ks_tempkey_keys *k = NULL;
    const KS_TK_KEY *key;
    krb5_error_code ret;
    int i, n;

    if (out == NULL || (der == NULL && len > 0))
        return EINVAL;
    ret = ks_der_decode_secret(ASN1_ITEM_rptr(KS_TK_KEYS), der, len,
                               (ASN1_VALUE **)&st);
    if (ret)
        return tk_refusal(ret);
    n = sk_KS_TK_KEY_num(st);
    if (n < 1 || n > KS_TEMPKEY_MAX_KEYS) {
        ret = ASN1_PARSE_ERROR;
        goto cleanup;
    }
    k = calloc(1, sizeof(*k));
    if (k == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    k->keys = calloc(n, sizeof(*k->keys));
    if (k->keys == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    for (i = 0; i < n; i++) {
        key = sk_KS_TK_KEY_value(st, i);
        if (key == NULL) {
            ret = ASN1_PARSE_ERROR;
            goto cleanup;
        }
        k->keys[i].enctype = key->enctype;
        ret = ks_octets_from_asn1(key->key, 1, KS_TEMPKEY_MAX_KEY_LEN,
                                  &k->keys[i].key);
        if (ret)
            goto cleanup;
        k->n = i + 1;
    }
    if (!keys_valid(k)) {
        ret = ASN1_PARSE_ERROR;
        goto cleanup;
    }
    *out = k;
    k = NULL;

cleanup:
    ks_tempkey_keys_free(k);
    ASN1_item_free((ASN1_VALUE *)st, ASN1_ITEM_rptr(KS_TK_KEYS));
    return tk_refusal(ret);
}

void
ks_tempkey_keys_free(struct ks_tempkey_keys *k)
{
    size_t i;

    if (k == NULL)
        return;
    for (i = 0; k->keys != NULL && i < k->n; i++) {
        if (k->keys[i].key.data != NULL)
            ks_zfree(k->keys[i].key.data, k->keys[i].key.length);
    }
    free(k->keys);
    free(k);
}

/* ---- TempkeyReplyBody --------------------------------------------------- */

krb5_error_code
ks_tempkey_reply_body_encode(const struct ks_tempkey_reply_body *b,
                             unsigned char **der_out, size_t *len_out)
{
    KS_TK_REPLY_BODY *a;
    krb5_error_code ret;

    if (b == NULL || der_out == NULL || len_out == NULL ||
        !key_id_valid(b->key_id))
        return EINVAL;
    a = (KS_TK_REPLY_BODY *)ASN1_item_new(ASN1_ITEM_rptr(KS_TK_REPLY_BODY));
    if (a == NULL)
        return ENOMEM;
    a->key_id = (int32_t)b->key_id;
    a->expiry = b->expiry;
    a->renew_by = b->renew_by;
    ret = ks_octets_to_asn1(&a->req_body_hash, b->req_body_hash,
                            sizeof(b->req_body_hash));
    if (!ret) {
        ret = ks_der_encode(ASN1_ITEM_rptr(KS_TK_REPLY_BODY),
                            (ASN1_VALUE *)a, der_out, len_out);
    }
    ASN1_item_free((ASN1_VALUE *)a, ASN1_ITEM_rptr(KS_TK_REPLY_BODY));
    return ret;
}

/* ---- messages ----------------------------------------------------------- */

const char *
ks_tempkey_error_message(int32_t code)
{
    switch (code) {
    case KS_TEMPKEY_E_MALFORMED:
        return "the KDC could not decode the tempkey request";
    case KS_TEMPKEY_E_BAD_SIGNATURE:
        return "the server's signature on the tempkey request does not "
            "verify";
    case KS_TEMPKEY_E_UNTRUSTED_CERT:
        return "the server certificate does not chain to the KDC's "
            "tempkey_anchors";
    case KS_TEMPKEY_E_CERT_EXPIRED:
        return "the server certificate has expired";
    case KS_TEMPKEY_E_CERT_NOT_YET_VALID:
        return "the server certificate is not yet valid";
    case KS_TEMPKEY_E_WRONG_EKU:
        return "the server certificate's extended key usage is neither "
            "absent nor id-pkinit-KPClientAuth";
    case KS_TEMPKEY_E_CERT_WRONG_PRINC:
        return "the server certificate names another principal";
    case KS_TEMPKEY_E_ROLLBACK:
        return "the key id is not above the highest key id already "
            "registered";
    case KS_TEMPKEY_E_LIFETIME:
        return "the key expiry is beyond the KDC's tempkey_max_life";
    case KS_TEMPKEY_E_REPLAY:
        return "the tempkey request was replayed";
    case KS_TEMPKEY_E_WRONG_KDC_KEY:
        return "the keys are not sealed to this KDC's certificate";
    case KS_TEMPKEY_E_FRESHNESS_MISSING:
        return "the request carries no freshness token";
    case KS_TEMPKEY_E_FRESHNESS_STALE:
        return "the freshness token is stale; retry the registration";
    case KS_TEMPKEY_E_FRESHNESS_INVALID:
        return "the freshness token is not valid for this client";
    case KS_TEMPKEY_E_BAD_BINDING:
        return "the request binding does not match the AS-REQ body";
    case KS_TEMPKEY_E_PRINC_MISMATCH:
        return "the signed principal is not the AS request's client";
    case KS_TEMPKEY_E_BAD_KEY:
        return "the keys are unusable (no enctype of the realm, a bad key "
            "length or key id, or an expiry not in the future)";
    case KS_TEMPKEY_E_NOT_CONFIGURED:
        return "the KDC is not configured for tempkey (tempkey_anchors or "
            "devreg_identity missing)";
    case KS_TEMPKEY_E_UNSUPPORTED_DB:
        return "the realm database is not the stateless backend";
    case KS_TEMPKEY_E_STORE:
        return "the KDC failed to store the key";
    default:
        return "unknown tempkey error code";
    }
}
