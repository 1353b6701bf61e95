/*
 * Fuzz target: the tempkey decoders of lib/ks_tempkey_asn1.h on untrusted
 * bytes.
 *
 * Input: one DER value, offered to every decoder in turn: TempkeyMessage,
 * TempkeyRequestBody and TempkeyKeys.  A decoded TempkeyRequest's
 * signed-request and a decoded TempkeyRequestBody's sealed-keys are CMS,
 * whose wrapping comes off (ks_cms_verify, ks_cms_open) before the inner
 * decoders run; CMS stays out of this target (fuzz_cms_verify has it), so
 * those octet strings are fed to the inner decoders directly.
 *
 * Besides memory errors, the target aborts when a decoder breaks the
 * rules of ks_tempkey_asn1.h: whatever decodes must encode again to
 * exactly the input bytes (only canonical DER is accepted), decode(encode
 * (x)) must give x back, and decoded fields must respect the module's
 * ranges and caps.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <krb5/krb5.h>

#include "ks_tempkey_asn1.h"

#define FUZZ_MAX_INPUT (KS_ASN1_MAX_INPUT + 16)

static void fuzz_request_body(const unsigned char *der, size_t len);
static void fuzz_keys(const unsigned char *der, size_t len);

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
check_message_eq(const struct ks_tempkey_message *a,
                 const struct ks_tempkey_message *b)
{
    if (a->type != b->type)
        abort();
    switch (a->type) {
    case KS_TEMPKEY_MSG_CHALLENGE:
        check_data(&a->u.challenge.freshness_token,
                   &b->u.challenge.freshness_token);
        check_data(&a->u.challenge.kdc_cert, &b->u.challenge.kdc_cert);
        check_same(a->u.challenge.enctypes,
                   a->u.challenge.nenctypes * sizeof(krb5_enctype),
                   b->u.challenge.enctypes,
                   b->u.challenge.nenctypes * sizeof(krb5_enctype));
        if (a->u.challenge.max_life != b->u.challenge.max_life)
            abort();
        break;
    case KS_TEMPKEY_MSG_REQUEST:
        check_data(&a->u.request.signed_request,
                   &b->u.request.signed_request);
        break;
    case KS_TEMPKEY_MSG_REPLY:
        if (a->u.reply.key_id != b->u.reply.key_id ||
            a->u.reply.expiry != b->u.reply.expiry ||
            a->u.reply.renew_by != b->u.reply.renew_by ||
            a->u.reply.cksumtype != b->u.reply.cksumtype)
            abort();
        check_data(&a->u.reply.checksum, &b->u.reply.checksum);
        break;
    case KS_TEMPKEY_MSG_ERROR:
        if (a->u.error.code != b->u.error.code ||
            (a->u.error.text == NULL) != (b->u.error.text == NULL))
            abort();
        if (a->u.error.text != NULL &&
            strcmp(a->u.error.text, b->u.error.text) != 0)
            abort();
        break;
    default:
        abort();
    }
}

/* Abort if a decoded message breaks the ranges and caps of the module. */
static void
check_message_caps(const struct ks_tempkey_message *m)
{
    const struct ks_tempkey_challenge *c = &m->u.challenge;

    switch (m->type) {
    case KS_TEMPKEY_MSG_CHALLENGE:
        if (c->freshness_token.length > KS_DEVREG_MAX_TOKEN ||
            c->max_life < 1 || c->kdc_cert.length > KS_TEMPKEY_MAX_CMS ||
            c->nenctypes > KS_TEMPKEY_MAX_KEYS ||
            (c->nenctypes == 0) != (c->enctypes == NULL))
            abort();
        break;
    case KS_TEMPKEY_MSG_REQUEST:
        if (m->u.request.signed_request.length < 1 ||
            m->u.request.signed_request.length > KS_TEMPKEY_MAX_CMS)
            abort();
        break;
    case KS_TEMPKEY_MSG_REPLY:
        if (m->u.reply.key_id < KS_TEMPKEY_ID_MIN ||
            m->u.reply.key_id > KS_TEMPKEY_ID_MAX ||
            m->u.reply.checksum.length < 1)
            abort();
        break;
    case KS_TEMPKEY_MSG_ERROR:
        if (m->u.error.text != NULL &&
            strlen(m->u.error.text) > KS_DEVREG_MAX_TEXT)
            abort();
        (void)ks_tempkey_error_message(m->u.error.code);
        break;
    default:
        abort();
    }
}

/* TempkeyMessage: decode, check the round trip, and feed a request's
 * signed-request on as if its SignedData had been verified away. */
static void
fuzz_message(const unsigned char *der, size_t len)
{
    struct ks_tempkey_message *m = NULL, *back = NULL;
    unsigned char *again = NULL;
    size_t againlen = 0;

    if (ks_tempkey_message_decode(der, len, &m) != 0)
        return;
    check_message_caps(m);
    if (ks_tempkey_message_encode(m, &again, &againlen) != 0)
        abort();
    check_same(again, againlen, der, len);
    if (ks_tempkey_message_decode(again, againlen, &back) != 0)
        abort();
    check_message_eq(m, back);
    if (m->type == KS_TEMPKEY_MSG_REQUEST) {
        fuzz_request_body((unsigned char *)m->u.request.signed_request.data,
                          m->u.request.signed_request.length);
    }
    free(again);
    ks_tempkey_message_free(back);
    ks_tempkey_message_free(m);
}

/* TempkeyRequestBody: decode, check the round trip, and feed the sealed
 * keys on as if the EnvelopedData had been opened. */
static void
fuzz_request_body(const unsigned char *der, size_t len)
{
    struct ks_tempkey_request_body *b = NULL, *back = NULL;
    unsigned char *again = NULL;
    size_t againlen = 0;

    if (ks_tempkey_request_body_decode(der, len, &b) != 0)
        return;
    if (b->version != KS_TEMPKEY_VERSION || b->principal == NULL ||
        *b->principal == '\0' || b->key_id < KS_TEMPKEY_ID_MIN ||
        b->key_id > KS_TEMPKEY_ID_MAX ||
        b->freshness_token.length > KS_DEVREG_MAX_TOKEN ||
        b->sealed_keys.length < 1 ||
        b->sealed_keys.length > KS_TEMPKEY_MAX_CMS)
        abort();
    if (ks_tempkey_request_body_encode(b, &again, &againlen) != 0)
        abort();
    check_same(again, againlen, der, len);
    if (ks_tempkey_request_body_decode(again, againlen, &back) != 0)
        abort();
    if (strcmp(b->principal, back->principal) != 0 ||
        b->key_id != back->key_id || b->expiry != back->expiry)
        abort();
    check_data(&b->freshness_token, &back->freshness_token);
    check_same(b->req_body_hash, KS_SHA256_LEN, back->req_body_hash,
               KS_SHA256_LEN);
    check_data(&b->sealed_keys, &back->sealed_keys);
    fuzz_keys((unsigned char *)b->sealed_keys.data, b->sealed_keys.length);
    free(again);
    ks_tempkey_request_body_free(back);
    ks_tempkey_request_body_free(b);
}

/* TempkeyKeys: decode, and if it decodes, check the round trip. */
static void
fuzz_keys(const unsigned char *der, size_t len)
{
    struct ks_tempkey_keys *k = NULL, *back = NULL;
    unsigned char *again = NULL;
    size_t againlen = 0, i;

    if (ks_tempkey_keys_decode(der, len, &k) != 0)
        return;
    if (k->n < 1 || k->n > KS_TEMPKEY_MAX_KEYS)
        abort();
    for (i = 0; i < k->n; i++) {
        if (k->keys[i].key.length < 1 ||
            k->keys[i].key.length > KS_TEMPKEY_MAX_KEY_LEN)
            abort();
    }
    if (ks_tempkey_keys_encode(k, &again, &againlen) != 0)
        abort();
    check_same(again, againlen, der, len);
    if (ks_tempkey_keys_decode(again, againlen, &back) != 0 ||
        back->n != k->n)
        abort();
    for (i = 0; i < k->n; i++) {
        if (back->keys[i].enctype != k->keys[i].enctype)
            abort();
        check_data(&back->keys[i].key, &k->keys[i].key);
    }
    free(again);
    ks_tempkey_keys_free(back);
    ks_tempkey_keys_free(k);
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
    fuzz_request_body(copy, size);
    fuzz_keys(copy, size);
    free(copy);
    return 0;
}
