/*
 * Unit tests of the tempkey codecs (lib/ks_tempkey_asn1.h): exact DER of
 * small values, round trips of every message type and of
 * TempkeyRequestBody and TempkeyKeys, the DER of TempkeyReplyBody, and
 * refusal (always ASN1_PARSE_ERROR) of trailing bytes, truncations, wrong
 * tags, values out of range, too many or oversized keys, BER forms and
 * oversized input; the encoders refuse (EINVAL) what the decoders refuse.
 *
 * The exact encodings (*_der constants) were derived by hand from the
 * module in ks_tempkey_asn1.h (EXPLICIT tags: [n] constructed = 0xa0 + n
 * around the universal TLV; INTEGER in minimal two's complement, e.g.
 * 86400 = 02 03 01 51 80 and 2^31-1 = 02 04 7f ff ff ff) and then checked
 * with an independent parser: `xxd -r -p | openssl asn1parse -inform DER
 * -i` on each constant shows the expected tree (cont [ 0 ] .. [ 3 ] around
 * SEQUENCE, OCTET STRING, INTEGER, UTF8STRING) and consumes every byte.
 * Larger expected and malformed encodings are built with der_tlv() below,
 * a small DER writer independent of the OpenSSL templates under test.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <krb5/krb5.h>

#include "ks_iana.h"
#include "ks_tempkey_asn1.h"
#include "unit_der.h"
#include "unit_util.h"

#define SEQ(...) der_tlv(0x30, cat(__VA_ARGS__))
#define OCTETS(p, n) der_tlv(0x04, raw(p, n))
#define UTF8(s) der_tlv(0x0c, raw(s, strlen(s)))

/* ---- decoders under a common signature ---------------------------------- */

enum decoder { DEC_MESSAGE, DEC_REQUEST_BODY, DEC_KEYS };

/* Run decoder which on the len bytes at der, free what it returns, and
 * return its code; the output stays NULL on failure. */
static krb5_error_code
try_decode(enum decoder which, const unsigned char *der, size_t len)
{
    struct ks_tempkey_message *msg = NULL;
    struct ks_tempkey_request_body *body = NULL;
    struct ks_tempkey_keys *keys = NULL;
    krb5_error_code ret = EINVAL;

    switch (which) {
    case DEC_MESSAGE:
        ret = ks_tempkey_message_decode(der, len, &msg);
        ck_assert(ret == 0 ? msg != NULL : msg == NULL);
        ks_tempkey_message_free(msg);
        break;
    case DEC_REQUEST_BODY:
        ret = ks_tempkey_request_body_decode(der, len, &body);
        ck_assert(ret == 0 ? body != NULL : body == NULL);
        ks_tempkey_request_body_free(body);
        break;
    case DEC_KEYS:
        ret = ks_tempkey_keys_decode(der, len, &keys);
        ck_assert(ret == 0 ? keys != NULL : keys == NULL);
        ks_tempkey_keys_free(keys);
        break;
    }
    return ret;
}

/* Decode der with decoder which, encode the result again and return the
 * bytes (fails the test if either step fails). */
static struct bytes
reencode(enum decoder which, const unsigned char *der, size_t len)
{
    struct ks_tempkey_message *msg = NULL;
    struct ks_tempkey_request_body *body = NULL;
    struct ks_tempkey_keys *keys = NULL;
    struct bytes out = { NULL, 0 };

    switch (which) {
    case DEC_MESSAGE:
        ck_assert_int_eq(ks_tempkey_message_decode(der, len, &msg), 0);
        ck_assert_int_eq(ks_tempkey_message_encode(msg, &out.p, &out.n), 0);
        ks_tempkey_message_free(msg);
        break;
    case DEC_REQUEST_BODY:
        ck_assert_int_eq(ks_tempkey_request_body_decode(der, len, &body), 0);
        ck_assert_int_eq(ks_tempkey_request_body_encode(body, &out.p,
                                                        &out.n), 0);
        ks_tempkey_request_body_free(body);
        break;
    case DEC_KEYS:
        ck_assert_int_eq(ks_tempkey_keys_decode(der, len, &keys), 0);
        ck_assert_int_eq(ks_tempkey_keys_encode(keys, &out.p, &out.n), 0);
        ks_tempkey_keys_free(keys);
        break;
    }
    return out;
}

/*
 * The strictness every decoder owes its valid input der: it re-encodes to
 * the same bytes; a byte appended is refused; every proper prefix is
 * refused; and after any single-byte change the input is refused or
 * re-encodes to itself (nothing but canonical DER is accepted).
 */
static void
assert_strict(enum decoder which, const unsigned char *der, size_t len)
{
    static const unsigned char masks[] = { 0x01, 0x02, 0x20, 0x80, 0xff };
    unsigned char *buf;
    struct bytes again;
    size_t i, m;

    again = reencode(which, der, len);
    ck_assert_uint_eq(again.n, len);
    ck_assert_mem_eq(again.p, der, len);
    free(again.p);

    buf = malloc(len + 1);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, der, len);
    buf[len] = 0x00;
    ck_assert_int_eq(try_decode(which, buf, len + 1), ASN1_PARSE_ERROR);
    buf[len] = 0x30;
    ck_assert_int_eq(try_decode(which, buf, len + 1), ASN1_PARSE_ERROR);
    for (i = 0; i < len; i++)
        ck_assert_int_eq(try_decode(which, buf, i), ASN1_PARSE_ERROR);
    for (i = 0; i < len; i++) {
        for (m = 0; m < sizeof(masks); m++) {
            memcpy(buf, der, len);
            buf[i] ^= masks[m];
            if (try_decode(which, buf, len) != 0)
                continue;
            again = reencode(which, buf, len);
            ck_assert_msg(again.n == len && memcmp(again.p, buf, len) == 0,
                          "byte %zu ^ %02x accepted but not canonical", i,
                          masks[m]);
            free(again.p);
        }
    }
    free(buf);
}

/* Assert that decoder which refuses b (consumed) as malformed. */
static void
assert_refused(enum decoder which, struct bytes b)
{
    ck_assert_int_eq(try_decode(which, b.p, b.n), ASN1_PARSE_ERROR);
    free(b.p);
}

/* Assert that decoder which accepts b (consumed). */
static void
assert_accepted(enum decoder which, struct bytes b)
{
    ck_assert_int_eq(try_decode(which, b.p, b.n), 0);
    free(b.p);
}

/* ---- sample values ------------------------------------------------------ */

static const char token[] = "freshness-token-bytes";
static const char sealed[] = "\x30\x80 pretend EnvelopedData";
static const char signed_req[] = "\x30\x80 pretend SignedData";
static const char kdc_cert_der[] = "\x30\x82 pretend certificate";
static const char principal[] = "host/srv.example.test@EXAMPLE.TEST";
static unsigned char hash[KS_SHA256_LEN];
static unsigned char aes256_key[32], aes128_key[16];
static krb5_enctype two_enctypes[] = { 18, 17 };

static krb5_data
mkdata(const void *p, size_t n)
{
    krb5_data d;

    d.magic = KV5M_DATA;
    d.data = (char *)p;
    d.length = n;
    return d;
}

static int
data_eq(const krb5_data *a, const krb5_data *b)
{
    return a->length == b->length &&
        (a->length == 0 || memcmp(a->data, b->data, a->length) == 0);
}

static void
setup(void)
{
    size_t i;

    for (i = 0; i < sizeof(hash); i++)
        hash[i] = (unsigned char)(0xa0 + i);
    for (i = 0; i < sizeof(aes256_key); i++)
        aes256_key[i] = (unsigned char)(0x10 + i);
    for (i = 0; i < sizeof(aes128_key); i++)
        aes128_key[i] = (unsigned char)(0x70 + i);
}

/* A sample of each message type (the challenge with every optional
 * field). */
static void
sample_message(enum ks_tempkey_msg_type type, struct ks_tempkey_message *m)
{
    static char text[] = "the keys are not sealed to this KDC's certificate";
    static char checksum[] = "twelve bytes";

    memset(m, 0, sizeof(*m));
    m->type = type;
    switch (type) {
    case KS_TEMPKEY_MSG_CHALLENGE:
        m->u.challenge.freshness_token = mkdata(token, sizeof(token) - 1);
        m->u.challenge.max_life = 86400;
        m->u.challenge.kdc_cert = mkdata(kdc_cert_der,
                                         sizeof(kdc_cert_der) - 1);
        m->u.challenge.enctypes = two_enctypes;
        m->u.challenge.nenctypes = 2;
        break;
    case KS_TEMPKEY_MSG_REQUEST:
        m->u.request.signed_request = mkdata(signed_req,
                                             sizeof(signed_req) - 1);
        break;
    case KS_TEMPKEY_MSG_REPLY:
        m->u.reply.key_id = 7;
        m->u.reply.expiry = 1767225600 + 86400;
        m->u.reply.renew_by = 1767225600 + 43200;
        m->u.reply.cksumtype = 16;      /* hmac-sha1-96-aes256 */
        m->u.reply.checksum = mkdata(checksum, sizeof(checksum) - 1);
        break;
    case KS_TEMPKEY_MSG_ERROR:
        m->u.error.code = KS_TEMPKEY_E_WRONG_KDC_KEY;
        m->u.error.text = text;
        break;
    }
}

/* Nonzero if two messages hold the same values. */
static int
message_eq(const struct ks_tempkey_message *a,
           const struct ks_tempkey_message *b)
{
    const struct ks_tempkey_challenge *ca = &a->u.challenge,
        *cb = &b->u.challenge;

    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case KS_TEMPKEY_MSG_CHALLENGE:
        return data_eq(&ca->freshness_token, &cb->freshness_token) &&
            ca->max_life == cb->max_life &&
            data_eq(&ca->kdc_cert, &cb->kdc_cert) &&
            ca->nenctypes == cb->nenctypes &&
            (ca->nenctypes == 0 ||
             memcmp(ca->enctypes, cb->enctypes,
                    ca->nenctypes * sizeof(krb5_enctype)) == 0);
    case KS_TEMPKEY_MSG_REQUEST:
        return data_eq(&a->u.request.signed_request,
                       &b->u.request.signed_request);
    case KS_TEMPKEY_MSG_REPLY:
        return a->u.reply.key_id == b->u.reply.key_id &&
            a->u.reply.expiry == b->u.reply.expiry &&
            a->u.reply.renew_by == b->u.reply.renew_by &&
            a->u.reply.cksumtype == b->u.reply.cksumtype &&
            data_eq(&a->u.reply.checksum, &b->u.reply.checksum);
    case KS_TEMPKEY_MSG_ERROR:
        if (a->u.error.code != b->u.error.code)
            return 0;
        if (a->u.error.text == NULL || b->u.error.text == NULL)
            return a->u.error.text == b->u.error.text;
        return strcmp(a->u.error.text, b->u.error.text) == 0;
    }
    return 0;
}

/* Encode m, check decode(encode(m)) == m, and return the DER. */
static struct bytes
message_round_trip(const struct ks_tempkey_message *m)
{
    struct ks_tempkey_message *back = NULL;
    struct bytes der;

    ck_assert_int_eq(ks_tempkey_message_encode(m, &der.p, &der.n), 0);
    ck_assert_int_eq(ks_tempkey_message_decode(der.p, der.n, &back), 0);
    ck_assert(message_eq(m, back));
    ks_tempkey_message_free(back);
    return der;
}

static void
sample_request_body(struct ks_tempkey_request_body *b)
{
    memset(b, 0, sizeof(*b));
    b->version = KS_TEMPKEY_VERSION;
    b->principal = (char *)principal;
    b->freshness_token = mkdata(token, sizeof(token) - 1);
    memcpy(b->req_body_hash, hash, sizeof(hash));
    b->key_id = 65535;
    b->expiry = 1767225600 + 86400;
    b->sealed_keys = mkdata(sealed, sizeof(sealed) - 1);
}

/* The sample keys: aes256 and aes128 (n of them, 1 or 2) into keys. */
static void
sample_keys(struct ks_tempkey_keys *k, struct ks_tempkey_key *keys,
            size_t n)
{
    keys[0].enctype = 18;
    keys[0].key = mkdata(aes256_key, sizeof(aes256_key));
    keys[1].enctype = 17;
    keys[1].key = mkdata(aes128_key, sizeof(aes128_key));
    k->n = n;
    k->keys = keys;
}

/* ---- exact DER ---------------------------------------------------------- */

/* TempkeyMessage challenge: token "T", max-life 86400, nothing optional. */
static const unsigned char challenge_min_der[] = {
    0xa0, 0x0e, 0x30, 0x0c,
    0xa0, 0x03, 0x04, 0x01, 'T',                        /* token */
    0xa1, 0x05, 0x02, 0x03, 0x01, 0x51, 0x80,           /* 86400 */
};
/* The same with max-life 2^31-1, kdc-certificate 30 00, enctypes
 * { 18, 17 }. */
static const unsigned char challenge_full_der[] = {
    0xa0, 0x1f, 0x30, 0x1d,
    0xa0, 0x03, 0x04, 0x01, 'T',
    0xa1, 0x06, 0x02, 0x04, 0x7f, 0xff, 0xff, 0xff,
    0xa2, 0x04, 0x04, 0x02, 0x30, 0x00,
    0xa3, 0x08, 0x30, 0x06, 0x02, 0x01, 0x12, 0x02, 0x01, 0x11,
};
/* TempkeyMessage error: code 11, text "hi". */
static const unsigned char error_hi_der[] = {
    0xa3, 0x0d, 0x30, 0x0b,
    0xa0, 0x03, 0x02, 0x01, 0x0b,
    0xa1, 0x04, 0x0c, 0x02, 'h', 'i',
};
/* TempkeyMessage error: code 1, no text. */
static const unsigned char error_code1_der[] = {
    0xa3, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x02, 0x01, 0x01,
};
/* TempkeyKeys { { 17, 01 02 } }. */
static const unsigned char keys_der[] = {
    0x30, 0x0d, 0x30, 0x0b,
    0xa0, 0x03, 0x02, 0x01, 0x11,
    0xa1, 0x04, 0x04, 0x02, 0x01, 0x02,
};

/* Assert that encoding m gives exactly the n bytes at want. */
static void
assert_message_der(const struct ks_tempkey_message *m,
                   const unsigned char *want, size_t n)
{
    unsigned char *der = NULL;
    size_t len = 0;

    ck_assert_int_eq(ks_tempkey_message_encode(m, &der, &len), 0);
    ck_assert_uint_eq(len, n);
    ck_assert_mem_eq(der, want, n);
    free(der);
}

START_TEST(test_exact_der_challenge)
{
    struct ks_tempkey_message m, *back = NULL;
    static krb5_enctype enctypes[] = { 18, 17 };

    memset(&m, 0, sizeof(m));
    m.type = KS_TEMPKEY_MSG_CHALLENGE;
    m.u.challenge.freshness_token = mkdata("T", 1);
    m.u.challenge.max_life = 86400;
    assert_message_der(&m, challenge_min_der, sizeof(challenge_min_der));

    m.u.challenge.max_life = INT32_MAX;
    m.u.challenge.kdc_cert = mkdata("\x30\x00", 2);
    m.u.challenge.enctypes = enctypes;
    m.u.challenge.nenctypes = 2;
    assert_message_der(&m, challenge_full_der, sizeof(challenge_full_der));

    /* And the decoder reads the constants back to the values. */
    ck_assert_int_eq(ks_tempkey_message_decode(challenge_min_der,
                                               sizeof(challenge_min_der),
                                               &back), 0);
    ck_assert_int_eq(back->type, KS_TEMPKEY_MSG_CHALLENGE);
    ck_assert_uint_eq(back->u.challenge.freshness_token.length, 1);
    ck_assert_int_eq(back->u.challenge.freshness_token.data[0], 'T');
    ck_assert_int_eq(back->u.challenge.max_life, 86400);
    ck_assert_uint_eq(back->u.challenge.kdc_cert.length, 0);
    ck_assert_ptr_null(back->u.challenge.enctypes);
    ck_assert_uint_eq(back->u.challenge.nenctypes, 0);
    ks_tempkey_message_free(back);

    ck_assert_int_eq(ks_tempkey_message_decode(challenge_full_der,
                                               sizeof(challenge_full_der),
                                               &back), 0);
    ck_assert_int_eq(back->u.challenge.max_life, INT32_MAX);
    ck_assert_uint_eq(back->u.challenge.kdc_cert.length, 2);
    ck_assert_mem_eq(back->u.challenge.kdc_cert.data, "\x30\x00", 2);
    ck_assert_uint_eq(back->u.challenge.nenctypes, 2);
    ck_assert_int_eq(back->u.challenge.enctypes[0], 18);
    ck_assert_int_eq(back->u.challenge.enctypes[1], 17);
    ks_tempkey_message_free(back);
}
END_TEST

START_TEST(test_exact_der_error)
{
    struct ks_tempkey_message m, *back = NULL;

    memset(&m, 0, sizeof(m));
    m.type = KS_TEMPKEY_MSG_ERROR;
    m.u.error.code = 11;
    m.u.error.text = (char *)"hi";
    assert_message_der(&m, error_hi_der, sizeof(error_hi_der));
    m.u.error.code = 1;
    m.u.error.text = NULL;
    assert_message_der(&m, error_code1_der, sizeof(error_code1_der));

    ck_assert_int_eq(ks_tempkey_message_decode(error_hi_der,
                                               sizeof(error_hi_der), &back),
                     0);
    ck_assert_int_eq(back->type, KS_TEMPKEY_MSG_ERROR);
    ck_assert_int_eq(back->u.error.code, 11);
    ck_assert_str_eq(back->u.error.text, "hi");
    ks_tempkey_message_free(back);
    ck_assert_int_eq(ks_tempkey_message_decode(error_code1_der,
                                               sizeof(error_code1_der),
                                               &back), 0);
    ck_assert_int_eq(back->u.error.code, 1);
    ck_assert_ptr_null(back->u.error.text);
    ks_tempkey_message_free(back);
}
END_TEST

START_TEST(test_exact_der_keys)
{
    struct ks_tempkey_key key = { 17, { KV5M_DATA, 2, (char *)"\x01\x02" } };
    struct ks_tempkey_keys k = { 1, &key }, *back = NULL;
    unsigned char *der = NULL;
    size_t len = 0;

    ck_assert_int_eq(ks_tempkey_keys_encode(&k, &der, &len), 0);
    ck_assert_uint_eq(len, sizeof(keys_der));
    ck_assert_mem_eq(der, keys_der, len);
    free(der);
    ck_assert_int_eq(ks_tempkey_keys_decode(keys_der, sizeof(keys_der),
                                            &back), 0);
    ck_assert_uint_eq(back->n, 1);
    ck_assert_int_eq(back->keys[0].enctype, 17);
    ck_assert_uint_eq(back->keys[0].key.length, 2);
    ck_assert_mem_eq(back->keys[0].key.data, "\x01\x02", 2);
    ks_tempkey_keys_free(back);
}
END_TEST

/* TempkeyReplyBody has only an encoder (the client checks the checksum
 * over its own encoding): its DER against the independent writer. */
START_TEST(test_exact_der_reply_body)
{
    struct ks_tempkey_reply_body rb;
    struct bytes want;
    unsigned char *der = NULL;
    size_t len = 0;

    memset(&rb, 0, sizeof(rb));
    rb.key_id = 65535;
    rb.expiry = 1767225600;             /* 02 04 69 55 b9 00 */
    rb.renew_by = -1;                   /* 02 01 ff: any INTEGER */
    memcpy(rb.req_body_hash, hash, sizeof(hash));
    ck_assert_int_eq(ks_tempkey_reply_body_encode(&rb, &der, &len), 0);
    want = SEQ(4, ctx_tag(0, raw("\x02\x03\x00\xff\xff", 5)),
               ctx_tag(1, raw("\x02\x04\x69\x55\xb9\x00", 6)),
               ctx_tag(2, raw("\x02\x01\xff", 3)),
               ctx_tag(3, OCTETS(hash, sizeof(hash))));
    ck_assert_uint_eq(len, want.n);
    ck_assert_mem_eq(der, want.p, len);
    free(der);
    free(want.p);

    /* Same layout for the largest times a 64-bit time_t holds. */
    rb.key_id = 1;
    rb.expiry = INT64_MAX;
    rb.renew_by = INT64_MIN;
    ck_assert_int_eq(ks_tempkey_reply_body_encode(&rb, &der, &len), 0);
    want = SEQ(4, ctx_tag(0, der_int(1)), ctx_tag(1, der_int(INT64_MAX)),
               ctx_tag(2, der_int(INT64_MIN)),
               ctx_tag(3, OCTETS(hash, sizeof(hash))));
    ck_assert_uint_eq(len, want.n);
    ck_assert_mem_eq(der, want.p, len);
    free(der);
    free(want.p);
}
END_TEST

/* ---- round trips and strictness ----------------------------------------- */

START_TEST(test_message_round_trip)
{
    struct ks_tempkey_message m;
    struct bytes der;

    sample_message((enum ks_tempkey_msg_type)_i, &m);
    der = message_round_trip(&m);
    assert_strict(DEC_MESSAGE, der.p, der.n);
    free(der.p);
}
END_TEST

START_TEST(test_message_variants)
{
    struct ks_tempkey_message m;
    struct bytes der;
    krb5_enctype many[KS_TEMPKEY_MAX_KEYS], odd[] = { -1, INT32_MIN };
    char *text;
    size_t i;

    /* Challenge: each optional field alone, empty token, the extremes. */
    sample_message(KS_TEMPKEY_MSG_CHALLENGE, &m);
    m.u.challenge.kdc_cert = mkdata(NULL, 0);
    free(message_round_trip(&m).p);
    sample_message(KS_TEMPKEY_MSG_CHALLENGE, &m);
    m.u.challenge.enctypes = NULL;
    m.u.challenge.nenctypes = 0;
    free(message_round_trip(&m).p);
    m.u.challenge.freshness_token = mkdata(NULL, 0);
    m.u.challenge.max_life = 1;
    free(message_round_trip(&m).p);
    for (i = 0; i < KS_TEMPKEY_MAX_KEYS; i++)
        many[i] = (krb5_enctype)(i + 1);
    m.u.challenge.enctypes = many;
    m.u.challenge.nenctypes = KS_TEMPKEY_MAX_KEYS;
    free(message_round_trip(&m).p);
    m.u.challenge.enctypes = odd;
    m.u.challenge.nenctypes = 2;
    free(message_round_trip(&m).p);

    /* Reply: key id bounds, negative times and checksum type. */
    sample_message(KS_TEMPKEY_MSG_REPLY, &m);
    m.u.reply.key_id = KS_TEMPKEY_ID_MIN;
    m.u.reply.expiry = -5;
    m.u.reply.renew_by = 0;
    m.u.reply.cksumtype = -1;
    free(message_round_trip(&m).p);
    m.u.reply.key_id = KS_TEMPKEY_ID_MAX;
    m.u.reply.expiry = INT64_MAX;
    free(message_round_trip(&m).p);

    /* Error: no text, empty text, the longest text, any code. */
    sample_message(KS_TEMPKEY_MSG_ERROR, &m);
    m.u.error.text = NULL;
    m.u.error.code = 12345;
    der = message_round_trip(&m);
    assert_strict(DEC_MESSAGE, der.p, der.n);
    free(der.p);
    m.u.error.text = (char *)"";
    free(message_round_trip(&m).p);
    text = malloc(KS_DEVREG_MAX_TEXT + 1);
    ck_assert_ptr_nonnull(text);
    memset(text, 'x', KS_DEVREG_MAX_TEXT);
    text[KS_DEVREG_MAX_TEXT] = '\0';
    m.u.error.text = text;
    free(message_round_trip(&m).p);
    free(text);
}
END_TEST

START_TEST(test_request_body_round_trip)
{
    struct ks_tempkey_request_body b, *back = NULL;
    struct bytes der, want;

    sample_request_body(&b);
    ck_assert_int_eq(ks_tempkey_request_body_encode(&b, &der.p, &der.n), 0);
    /* The layout, against the independent writer. */
    want = SEQ(7, ctx_tag(0, der_int(1)), ctx_tag(1, UTF8(principal)),
               ctx_tag(2, OCTETS(token, sizeof(token) - 1)),
               ctx_tag(3, OCTETS(hash, sizeof(hash))),
               ctx_tag(4, der_int(65535)),
               ctx_tag(5, der_int(1767225600 + 86400)),
               ctx_tag(6, OCTETS(sealed, sizeof(sealed) - 1)));
    ck_assert_uint_eq(der.n, want.n);
    ck_assert_mem_eq(der.p, want.p, der.n);
    free(want.p);

    ck_assert_int_eq(ks_tempkey_request_body_decode(der.p, der.n, &back), 0);
    ck_assert_int_eq(back->version, KS_TEMPKEY_VERSION);
    ck_assert_str_eq(back->principal, principal);
    ck_assert(data_eq(&back->freshness_token, &b.freshness_token));
    ck_assert_mem_eq(back->req_body_hash, hash, sizeof(hash));
    ck_assert_uint_eq(back->key_id, 65535);
    ck_assert_int_eq(back->expiry, 1767225600 + 86400);
    ck_assert(data_eq(&back->sealed_keys, &b.sealed_keys));
    ks_tempkey_request_body_free(back);
    assert_strict(DEC_REQUEST_BODY, der.p, der.n);
    free(der.p);

    /* An empty token passes the codec (the KDC refuses it as missing). */
    b.freshness_token = mkdata(NULL, 0);
    b.key_id = 1;
    b.expiry = 0;
    ck_assert_int_eq(ks_tempkey_request_body_encode(&b, &der.p, &der.n), 0);
    ck_assert_int_eq(ks_tempkey_request_body_decode(der.p, der.n, &back), 0);
    ck_assert_uint_eq(back->freshness_token.length, 0);
    ck_assert_uint_eq(back->key_id, 1);
    ck_assert_int_eq(back->expiry, 0);
    ks_tempkey_request_body_free(back);
    free(der.p);
}
END_TEST

START_TEST(test_keys_round_trip)
{
    struct ks_tempkey_key keys[KS_TEMPKEY_MAX_KEYS];
    struct ks_tempkey_keys k, *back = NULL;
    unsigned char big[KS_TEMPKEY_MAX_KEY_LEN];
    struct bytes der;
    size_t i;

    sample_keys(&k, keys, 2);
    ck_assert_int_eq(ks_tempkey_keys_encode(&k, &der.p, &der.n), 0);
    ck_assert_int_eq(ks_tempkey_keys_decode(der.p, der.n, &back), 0);
    ck_assert_uint_eq(back->n, 2);
    for (i = 0; i < 2; i++) {
        ck_assert_int_eq(back->keys[i].enctype, keys[i].enctype);
        ck_assert(data_eq(&back->keys[i].key, &keys[i].key));
    }
    ks_tempkey_keys_free(back);
    assert_strict(DEC_KEYS, der.p, der.n);
    free(der.p);

    /* The caps themselves: 16 keys, 64-byte keys. */
    memset(big, 0x33, sizeof(big));
    for (i = 0; i < KS_TEMPKEY_MAX_KEYS; i++) {
        keys[i].enctype = (krb5_enctype)(100 + i);
        keys[i].key = mkdata(big, (i % 2) ? sizeof(big) : 1);
    }
    k.n = KS_TEMPKEY_MAX_KEYS;
    ck_assert_int_eq(ks_tempkey_keys_encode(&k, &der.p, &der.n), 0);
    ck_assert_int_eq(ks_tempkey_keys_decode(der.p, der.n, &back), 0);
    ck_assert_uint_eq(back->n, KS_TEMPKEY_MAX_KEYS);
    ck_assert_uint_eq(back->keys[15].key.length, KS_TEMPKEY_MAX_KEY_LEN);
    ck_assert_int_eq(back->keys[15].enctype, 115);
    ks_tempkey_keys_free(back);
    free(der.p);
}
END_TEST

/* ---- refusals ----------------------------------------------------------- */

/* DER TempkeyRequestBody with the given fields (consumed). */
static struct bytes
body_with(struct bytes version, struct bytes princ, struct bytes tok,
          struct bytes hsh, struct bytes keyid, struct bytes expiry,
          struct bytes sealed_keys)
{
    return SEQ(7, version, princ, tok, hsh, keyid, expiry, sealed_keys);
}

#define BV ctx_tag(0, der_int(1))
#define BPRINC ctx_tag(1, UTF8(principal))
#define BTOK ctx_tag(2, OCTETS("T", 1))
#define BHASH ctx_tag(3, OCTETS(hash, sizeof(hash)))
#define BKEYID ctx_tag(4, der_int(2))
#define BEXP ctx_tag(5, der_int(1767225600))
#define BSEALED ctx_tag(6, OCTETS("S", 1))

/* DER TempkeyMessage reply with the given key id and checksum (consumed). */
static struct bytes
reply_with(struct bytes keyid, struct bytes checksum)
{
    return ctx_tag(2, SEQ(5, keyid, ctx_tag(1, der_int(1767225600)),
                          ctx_tag(2, der_int(1767225600)),
                          ctx_tag(3, der_int(16)), checksum));
}

/* DER TempkeyKey (enctype, key) and TempkeyKeys of n copies of it. */
static struct bytes
key_der(int32_t enctype, struct bytes key)
{
    return SEQ(2, ctx_tag(0, der_int(enctype)), ctx_tag(1, key));
}

static struct bytes
keys_of(size_t n, size_t keylen)
{
    struct bytes all = raw("", 0);
    size_t i;

    for (i = 0; i < n; i++)
        all = cat(2, all, key_der(18, der_tlv(0x04, fill(0x5a, keylen))));
    return der_tlv(0x30, all);
}

START_TEST(test_refuse_trailing_and_truncated)
{
    unsigned char buf[sizeof(challenge_full_der) + 1];
    size_t i;

    memcpy(buf, challenge_full_der, sizeof(challenge_full_der));
    buf[sizeof(challenge_full_der)] = 0x00;
    ck_assert_int_eq(try_decode(DEC_MESSAGE, buf, sizeof(buf)),
                     ASN1_PARSE_ERROR);
    for (i = 0; i < sizeof(challenge_full_der); i++)
        ck_assert_int_eq(try_decode(DEC_MESSAGE, buf, i), ASN1_PARSE_ERROR);
    assert_refused(DEC_KEYS, cat(2, raw(keys_der, sizeof(keys_der)),
                                 raw("\x30\x00", 2)));
    for (i = 0; i < sizeof(keys_der); i++)
        ck_assert_int_eq(try_decode(DEC_KEYS, keys_der, i),
                         ASN1_PARSE_ERROR);
    assert_refused(DEC_REQUEST_BODY,
                   cat(2, body_with(BV, BPRINC, BTOK, BHASH, BKEYID, BEXP,
                                    BSEALED), raw("\x00", 1)));
    /* The builder's body is itself fine. */
    assert_accepted(DEC_REQUEST_BODY,
                    body_with(BV, BPRINC, BTOK, BHASH, BKEYID, BEXP,
                              BSEALED));
}
END_TEST

START_TEST(test_refuse_key_id)
{
    static const int64_t bad[] = { 0, 65536, -1, INT32_MAX, INT64_MAX };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_refused(DEC_REQUEST_BODY,
                       body_with(BV, BPRINC, BTOK, BHASH,
                                 ctx_tag(4, der_int(bad[i])), BEXP,
                                 BSEALED));
        assert_refused(DEC_MESSAGE,
                       reply_with(ctx_tag(0, der_int(bad[i])),
                                  ctx_tag(4, OCTETS("C", 1))));
    }
    assert_accepted(DEC_REQUEST_BODY,
                    body_with(BV, BPRINC, BTOK, BHASH,
                              ctx_tag(4, der_int(65535)), BEXP, BSEALED));
    assert_accepted(DEC_REQUEST_BODY,
                    body_with(BV, BPRINC, BTOK, BHASH,
                              ctx_tag(4, der_int(1)), BEXP, BSEALED));
    assert_accepted(DEC_MESSAGE, reply_with(ctx_tag(0, der_int(65535)),
                                            ctx_tag(4, OCTETS("C", 1))));
    assert_accepted(DEC_MESSAGE, reply_with(ctx_tag(0, der_int(1)),
                                            ctx_tag(4, OCTETS("C", 1))));
}
END_TEST

START_TEST(test_refuse_keys)
{
    /* Too many keys, none at all. */
    assert_refused(DEC_KEYS, keys_of(KS_TEMPKEY_MAX_KEYS + 1, 32));
    assert_accepted(DEC_KEYS, keys_of(KS_TEMPKEY_MAX_KEYS, 32));
    assert_refused(DEC_KEYS, keys_of(0, 32));
    /* An oversized key, an empty one. */
    assert_refused(DEC_KEYS, keys_of(1, KS_TEMPKEY_MAX_KEY_LEN + 1));
    assert_accepted(DEC_KEYS, keys_of(1, KS_TEMPKEY_MAX_KEY_LEN));
    assert_refused(DEC_KEYS, keys_of(1, 0));
    /* A key without its enctype or its bytes; an enctype over 32 bits. */
    assert_refused(DEC_KEYS, SEQ(1, SEQ(1, ctx_tag(1, OCTETS("k", 1)))));
    assert_refused(DEC_KEYS, SEQ(1, SEQ(1, ctx_tag(0, der_int(18)))));
    assert_refused(DEC_KEYS,
                   SEQ(1, SEQ(2, ctx_tag(0, der_int((int64_t)INT32_MAX + 1)),
                              ctx_tag(1, OCTETS("k", 1)))));
    assert_accepted(DEC_KEYS, SEQ(1, key_der(INT32_MIN, OCTETS("k", 1))));
}
END_TEST

START_TEST(test_refuse_wrong_tags)
{
    unsigned char buf[sizeof(challenge_full_der)];

    /* A CHOICE tag no alternative has, a primitive one, no CHOICE tag. */
    memcpy(buf, challenge_full_der, sizeof(buf));
    buf[0] = 0xa4;
    ck_assert_int_eq(try_decode(DEC_MESSAGE, buf, sizeof(buf)),
                     ASN1_PARSE_ERROR);
    buf[0] = 0x80;
    ck_assert_int_eq(try_decode(DEC_MESSAGE, buf, sizeof(buf)),
                     ASN1_PARSE_ERROR);
    ck_assert_int_eq(try_decode(DEC_MESSAGE, challenge_full_der + 2,
                                sizeof(challenge_full_der) - 2),
                     ASN1_PARSE_ERROR);
    /* The challenge's body under the other alternatives' tags. */
    for (buf[0] = 0xa1; buf[0] <= 0xa3; buf[0]++)
        ck_assert_int_eq(try_decode(DEC_MESSAGE, buf, sizeof(buf)),
                         ASN1_PARSE_ERROR);
    /* SET instead of SEQUENCE. */
    memcpy(buf, challenge_full_der, sizeof(buf));
    buf[2] = 0x31;
    ck_assert_int_eq(try_decode(DEC_MESSAGE, buf, sizeof(buf)),
                     ASN1_PARSE_ERROR);
    /* IMPLICIT instead of EXPLICIT: [0] 'T' without the OCTET STRING. */
    assert_refused(DEC_MESSAGE,
                   ctx_tag(0, SEQ(2, der_tlv(0x80, raw("T", 1)),
                                  ctx_tag(1, der_int(5)))));
    assert_refused(DEC_MESSAGE,
                   ctx_tag(0, SEQ(2, ctx_tag(0, OCTETS("T", 1)),
                                  der_tlv(0x81, raw("\x05", 1)))));
    /* Universal types swapped: key as UTF8String, key id as OCTET
     * STRING, principal as OCTET STRING, enctypes as a bare INTEGER. */
    assert_refused(DEC_KEYS, SEQ(1, key_der(18, UTF8("key"))));
    assert_refused(DEC_REQUEST_BODY,
                   body_with(BV, BPRINC, BTOK, BHASH,
                             ctx_tag(4, OCTETS("\x02", 1)), BEXP, BSEALED));
    assert_refused(DEC_REQUEST_BODY,
                   body_with(BV, ctx_tag(1, OCTETS("a@R", 3)), BTOK, BHASH,
                             BKEYID, BEXP, BSEALED));
    assert_refused(DEC_MESSAGE,
                   ctx_tag(0, SEQ(3, ctx_tag(0, OCTETS("T", 1)),
                                  ctx_tag(1, der_int(5)),
                                  ctx_tag(3, der_int(18)))));
    /* Fields out of order, or a field under another's tag. */
    assert_refused(DEC_REQUEST_BODY,
                   body_with(BPRINC, BV, BTOK, BHASH, BKEYID, BEXP,
                             BSEALED));
    assert_refused(DEC_REQUEST_BODY,
                   body_with(BV, BPRINC, BTOK, BHASH, BKEYID,
                             ctx_tag(7, der_int(1767225600)), BSEALED));
    /* A missing mandatory field. */
    assert_refused(DEC_REQUEST_BODY,
                   SEQ(6, BV, BPRINC, BTOK, BHASH, BKEYID, BEXP));
    assert_refused(DEC_MESSAGE,
                   ctx_tag(0, SEQ(1, ctx_tag(0, OCTETS("T", 1)))));
    /* A TempkeyKeys is no message and the reverse. */
    ck_assert_int_eq(try_decode(DEC_MESSAGE, keys_der, sizeof(keys_der)),
                     ASN1_PARSE_ERROR);
    ck_assert_int_eq(try_decode(DEC_KEYS, error_hi_der,
                                sizeof(error_hi_der)), ASN1_PARSE_ERROR);
}
END_TEST

START_TEST(test_refuse_ranges)
{
    struct bytes many = raw("", 0);
    int i;

    /* TempkeyRequestBody: version, hash size, principal. */
    assert_refused(DEC_REQUEST_BODY,
                   body_with(ctx_tag(0, der_int(2)), BPRINC, BTOK, BHASH,
                             BKEYID, BEXP, BSEALED));
    assert_refused(DEC_REQUEST_BODY,
                   body_with(ctx_tag(0, der_int(0)), BPRINC, BTOK, BHASH,
                             BKEYID, BEXP, BSEALED));
    assert_refused(DEC_REQUEST_BODY,
                   body_with(BV, BPRINC, BTOK,
                             ctx_tag(3, OCTETS(hash, sizeof(hash) - 1)),
                             BKEYID, BEXP, BSEALED));
    assert_refused(DEC_REQUEST_BODY,
                   body_with(BV, BPRINC, BTOK,
                             ctx_tag(3, der_tlv(0x04, fill(1, 33))),
                             BKEYID, BEXP, BSEALED));
    assert_refused(DEC_REQUEST_BODY,
                   body_with(BV, ctx_tag(1, UTF8("")), BTOK, BHASH, BKEYID,
                             BEXP, BSEALED));
    assert_refused(DEC_REQUEST_BODY,
                   body_with(BV, ctx_tag(1, der_tlv(0x0c, raw("a\0b", 3))),
                             BTOK, BHASH, BKEYID, BEXP, BSEALED));
    assert_refused(DEC_REQUEST_BODY,
                   body_with(BV, ctx_tag(1, der_tlv(0x0c,
                                                    raw("\xc0\xaf", 2))),
                             BTOK, BHASH, BKEYID, BEXP, BSEALED));
    assert_refused(DEC_REQUEST_BODY,
                   body_with(BV, ctx_tag(1, der_tlv(0x0c, fill('p',
                                 KS_DEVREG_MAX_CLIENT + 1))),
                             BTOK, BHASH, BKEYID, BEXP, BSEALED));
    assert_refused(DEC_REQUEST_BODY,
                   body_with(BV, BPRINC, ctx_tag(2, der_tlv(0x04, fill('t',
                                 KS_DEVREG_MAX_TOKEN + 1))),
                             BHASH, BKEYID, BEXP, BSEALED));
    assert_refused(DEC_REQUEST_BODY,
                   body_with(BV, BPRINC, BTOK, BHASH, BKEYID, BEXP,
                             ctx_tag(6, OCTETS("", 0))));
    assert_refused(DEC_REQUEST_BODY,
                   body_with(BV, BPRINC, BTOK, BHASH, BKEYID, BEXP,
                             ctx_tag(6, der_tlv(0x04, fill('s',
                                 KS_TEMPKEY_MAX_CMS + 1)))));
    /* expiry beyond 64 bits. */
    assert_refused(DEC_REQUEST_BODY,
                   body_with(BV, BPRINC, BTOK, BHASH, BKEYID,
                             ctx_tag(5, der_tlv(0x02, raw("\x01\0\0\0\0\0\0"
                                                          "\0\0", 9))),
                             BSEALED));

    /* TempkeyChallenge: max-life, empty optional fields, enctypes. */
    assert_refused(DEC_MESSAGE,
                   ctx_tag(0, SEQ(2, ctx_tag(0, OCTETS("T", 1)),
                                  ctx_tag(1, der_int(0)))));
    assert_refused(DEC_MESSAGE,
                   ctx_tag(0, SEQ(2, ctx_tag(0, OCTETS("T", 1)),
                                  ctx_tag(1, der_int(-1)))));
    assert_refused(DEC_MESSAGE,
                   ctx_tag(0, SEQ(2, ctx_tag(0, OCTETS("T", 1)),
                                  ctx_tag(1, der_int((int64_t)INT32_MAX +
                                                     1)))));
    assert_refused(DEC_MESSAGE,
                   ctx_tag(0, SEQ(3, ctx_tag(0, OCTETS("T", 1)),
                                  ctx_tag(1, der_int(5)),
                                  ctx_tag(2, OCTETS("", 0)))));
    assert_refused(DEC_MESSAGE,
                   ctx_tag(0, SEQ(3, ctx_tag(0, OCTETS("T", 1)),
                                  ctx_tag(1, der_int(5)),
                                  ctx_tag(2, der_tlv(0x04, fill('c',
                                      KS_TEMPKEY_MAX_CMS + 1))))));
    assert_refused(DEC_MESSAGE,
                   ctx_tag(0, SEQ(3, ctx_tag(0, OCTETS("T", 1)),
                                  ctx_tag(1, der_int(5)),
                                  ctx_tag(3, SEQ(0)))));
    assert_refused(DEC_MESSAGE,
                   ctx_tag(0, SEQ(3, ctx_tag(0, OCTETS("T", 1)),
                                  ctx_tag(1, der_int(5)),
                                  ctx_tag(3, SEQ(1, der_int((int64_t)
                                      INT32_MAX + 1))))));
    for (i = 0; i <= KS_TEMPKEY_MAX_KEYS; i++)
        many = cat(2, many, der_int(i + 1));
    assert_refused(DEC_MESSAGE,
                   ctx_tag(0, SEQ(3, ctx_tag(0, OCTETS("T", 1)),
                                  ctx_tag(1, der_int(5)),
                                  ctx_tag(3, der_tlv(0x30, many)))));

    /* TempkeyRequest, TempkeyReply and TempkeyError contents. */
    assert_refused(DEC_MESSAGE, ctx_tag(1, SEQ(1, ctx_tag(0,
                                                          OCTETS("", 0)))));
    assert_refused(DEC_MESSAGE,
                   ctx_tag(1, SEQ(1, ctx_tag(0, der_tlv(0x04, fill('r',
                       KS_TEMPKEY_MAX_CMS + 1))))));
    assert_refused(DEC_MESSAGE, reply_with(ctx_tag(0, der_int(1)),
                                           ctx_tag(4, OCTETS("", 0))));
    assert_refused(DEC_MESSAGE,
                   reply_with(ctx_tag(0, der_int(1)),
                              ctx_tag(4, der_tlv(0x04, fill('c', 65)))));
    assert_refused(DEC_MESSAGE,
                   ctx_tag(3, SEQ(2, ctx_tag(0, der_int(1)),
                                  ctx_tag(1, der_tlv(0x0c, fill('x',
                                      KS_DEVREG_MAX_TEXT + 1))))));
    assert_refused(DEC_MESSAGE,
                   ctx_tag(3, SEQ(2, ctx_tag(0, der_int(1)),
                                  ctx_tag(1, der_tlv(0x0c,
                                                     raw("\xed\xa0\x80",
                                                         3))))));
    assert_refused(DEC_MESSAGE,
                   ctx_tag(3, SEQ(1, ctx_tag(0, der_int((int64_t)INT32_MIN -
                                                        1)))));
}
END_TEST

START_TEST(test_refuse_ber_and_size)
{
    struct bytes big;

    /* Non-minimal lengths, outer and inner. */
    assert_refused(DEC_MESSAGE,
                   cat(2, raw("\xa3\x81\x0d", 3),
                       raw(error_hi_der + 2, sizeof(error_hi_der) - 2)));
    assert_refused(DEC_MESSAGE,
                   raw("\xa3\x08\x30\x81\x05\xa0\x03\x02\x01\x01", 10));
    /* Indefinite length. */
    assert_refused(DEC_MESSAGE,
                   raw("\xa3\x80\x30\x05\xa0\x03\x02\x01\x01\x00\x00", 11));
    /* INTEGER with a redundant leading byte. */
    assert_refused(DEC_MESSAGE,
                   raw("\xa3\x08\x30\x06\xa0\x04\x02\x02\x00\x01", 10));
    /* Constructed OCTET STRING for a key. */
    assert_refused(DEC_KEYS, SEQ(1, key_der(18, der_tlv(0x24,
                                                        OCTETS("k", 1)))));
    /* Input over KS_ASN1_MAX_INPUT, even if it would parse. */
    big = ctx_tag(1, SEQ(1, ctx_tag(0, der_tlv(0x04,
                                               fill('a',
                                                    KS_ASN1_MAX_INPUT)))));
    ck_assert_int_eq(try_decode(DEC_MESSAGE, big.p, big.n),
                     ASN1_PARSE_ERROR);
    free(big.p);
    /* Empty input. */
    ck_assert_int_eq(try_decode(DEC_MESSAGE, error_hi_der, 0),
                     ASN1_PARSE_ERROR);
    ck_assert_int_eq(try_decode(DEC_KEYS, NULL, 0), ASN1_PARSE_ERROR);
}
END_TEST

START_TEST(test_bad_arguments)
{
    struct ks_tempkey_message *m = NULL;
    struct ks_tempkey_request_body *b = NULL;
    struct ks_tempkey_keys *k = NULL;
    struct ks_tempkey_message msg;
    unsigned char *der = NULL;
    size_t len = 0;

    ck_assert_int_eq(ks_tempkey_message_decode(error_hi_der,
                                               sizeof(error_hi_der), NULL),
                     EINVAL);
    ck_assert_int_eq(ks_tempkey_message_decode(NULL, 5, &m), EINVAL);
    ck_assert_int_eq(ks_tempkey_request_body_decode(NULL, 5, &b), EINVAL);
    ck_assert_int_eq(ks_tempkey_keys_decode(NULL, 5, &k), EINVAL);
    ck_assert_ptr_null(m);
    ck_assert_ptr_null(b);
    ck_assert_ptr_null(k);
    ck_assert_int_eq(ks_tempkey_message_encode(NULL, &der, &len), EINVAL);
    sample_message(KS_TEMPKEY_MSG_ERROR, &msg);
    msg.type = (enum ks_tempkey_msg_type)4;
    ck_assert_int_eq(ks_tempkey_message_encode(&msg, &der, &len), EINVAL);
    ck_assert_ptr_null(der);
    ks_tempkey_message_free(NULL);
    ks_tempkey_request_body_free(NULL);
    ks_tempkey_keys_free(NULL);
}
END_TEST

/* Every encoder refuses what its decoder refuses. */
START_TEST(test_encoders_refuse_invalid)
{
    struct ks_tempkey_message m;
    struct ks_tempkey_request_body b;
    struct ks_tempkey_reply_body rb;
    struct ks_tempkey_key keys[KS_TEMPKEY_MAX_KEYS + 1];
    struct ks_tempkey_keys k;
    unsigned char big[KS_TEMPKEY_MAX_KEY_LEN + 1];
    unsigned char *der = NULL;
    size_t len = 0, i;

    sample_message(KS_TEMPKEY_MSG_CHALLENGE, &m);
    m.u.challenge.max_life = 0;
    ck_assert_int_eq(ks_tempkey_message_encode(&m, &der, &len), EINVAL);
    sample_message(KS_TEMPKEY_MSG_CHALLENGE, &m);
    m.u.challenge.enctypes = NULL;
    ck_assert_int_eq(ks_tempkey_message_encode(&m, &der, &len), EINVAL);
    sample_message(KS_TEMPKEY_MSG_CHALLENGE, &m);
    m.u.challenge.nenctypes = KS_TEMPKEY_MAX_KEYS + 1;
    ck_assert_int_eq(ks_tempkey_message_encode(&m, &der, &len), EINVAL);
    sample_message(KS_TEMPKEY_MSG_REQUEST, &m);
    m.u.request.signed_request = mkdata(NULL, 0);
    ck_assert_int_eq(ks_tempkey_message_encode(&m, &der, &len), EINVAL);
    sample_message(KS_TEMPKEY_MSG_REPLY, &m);
    m.u.reply.key_id = 0;
    ck_assert_int_eq(ks_tempkey_message_encode(&m, &der, &len), EINVAL);
    m.u.reply.key_id = 65536;
    ck_assert_int_eq(ks_tempkey_message_encode(&m, &der, &len), EINVAL);
    sample_message(KS_TEMPKEY_MSG_ERROR, &m);
    m.u.error.text = (char *)"\xff";
    ck_assert_int_eq(ks_tempkey_message_encode(&m, &der, &len), EINVAL);

    sample_request_body(&b);
    b.key_id = 0;
    ck_assert_int_eq(ks_tempkey_request_body_encode(&b, &der, &len), EINVAL);
    b.key_id = 65536;
    ck_assert_int_eq(ks_tempkey_request_body_encode(&b, &der, &len), EINVAL);
    sample_request_body(&b);
    b.version = 2;
    ck_assert_int_eq(ks_tempkey_request_body_encode(&b, &der, &len), EINVAL);
    sample_request_body(&b);
    b.principal = NULL;
    ck_assert_int_eq(ks_tempkey_request_body_encode(&b, &der, &len), EINVAL);
    sample_request_body(&b);
    b.sealed_keys = mkdata(NULL, 0);
    ck_assert_int_eq(ks_tempkey_request_body_encode(&b, &der, &len), EINVAL);

    memset(&rb, 0, sizeof(rb));
    rb.key_id = 0;
    ck_assert_int_eq(ks_tempkey_reply_body_encode(&rb, &der, &len), EINVAL);
    rb.key_id = 65536;
    ck_assert_int_eq(ks_tempkey_reply_body_encode(&rb, &der, &len), EINVAL);

    memset(big, 1, sizeof(big));
    for (i = 0; i <= KS_TEMPKEY_MAX_KEYS; i++) {
        keys[i].enctype = 18;
        keys[i].key = mkdata(big, 32);
    }
    k.keys = keys;
    k.n = KS_TEMPKEY_MAX_KEYS + 1;
    ck_assert_int_eq(ks_tempkey_keys_encode(&k, &der, &len), EINVAL);
    k.n = 0;
    ck_assert_int_eq(ks_tempkey_keys_encode(&k, &der, &len), EINVAL);
    k.n = 1;
    keys[0].key = mkdata(big, sizeof(big));
    ck_assert_int_eq(ks_tempkey_keys_encode(&k, &der, &len), EINVAL);
    keys[0].key = mkdata(big, 0);
    ck_assert_int_eq(ks_tempkey_keys_encode(&k, &der, &len), EINVAL);
    ck_assert_ptr_null(der);
}
END_TEST

START_TEST(test_error_messages)
{
    const char *unknown = ks_tempkey_error_message(0);
    const char *msgs[KS_TEMPKEY_E_MAX + 1];
    int i, j;

    ck_assert_str_eq(unknown, "unknown tempkey error code");
    ck_assert_str_eq(ks_tempkey_error_message(KS_TEMPKEY_E_MAX + 1),
                     unknown);
    ck_assert_str_eq(ks_tempkey_error_message(-1), unknown);
    for (i = 1; i <= KS_TEMPKEY_E_MAX; i++) {
        msgs[i] = ks_tempkey_error_message(i);
        ck_assert_str_ne(msgs[i], unknown);
        for (j = 1; j < i; j++)
            ck_assert_str_ne(msgs[i], msgs[j]);
    }
    ck_assert_str_eq(ks_tempkey_error_message(KS_TEMPKEY_E_WRONG_KDC_KEY),
                     "the keys are not sealed to this KDC's certificate");
}
END_TEST

static Suite *
tempkey_asn1_suite(void)
{
    Suite *s = suite_create("tempkey_asn1");
    TCase *tc;

    tc = tcase_create("exact");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_exact_der_challenge);
    tcase_add_test(tc, test_exact_der_error);
    tcase_add_test(tc, test_exact_der_keys);
    tcase_add_test(tc, test_exact_der_reply_body);
    suite_add_tcase(s, tc);

    tc = tcase_create("round_trip");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_loop_test(tc, test_message_round_trip,
                        KS_TEMPKEY_MSG_CHALLENGE, KS_TEMPKEY_MSG_ERROR + 1);
    tcase_add_test(tc, test_message_variants);
    tcase_add_test(tc, test_request_body_round_trip);
    tcase_add_test(tc, test_keys_round_trip);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("refuse");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_refuse_trailing_and_truncated);
    tcase_add_test(tc, test_refuse_key_id);
    tcase_add_test(tc, test_refuse_keys);
    tcase_add_test(tc, test_refuse_wrong_tags);
    tcase_add_test(tc, test_refuse_ranges);
    tcase_add_test(tc, test_refuse_ber_and_size);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_encoders_refuse_invalid);
    tcase_add_test(tc, test_error_messages);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return unit_run(tempkey_asn1_suite());
}
