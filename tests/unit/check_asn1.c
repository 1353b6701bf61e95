/*
 * Unit tests of the ASN.1 codecs (lib/ks_asn1.h): exact DER of small
 * values, round trips of every type, and refusal of everything a strict
 * DER decoder must refuse (trailing bytes, every truncation, wrong tags
 * and CHOICE alternatives, missing fields, BER forms, bad versions, values
 * out of range, oversized fields, bad times and bad UTF-8); then auth
 * indicators found in ticket authorization data built with the public
 * krb5 structures.
 *
 * The exact encodings (*_der constants) were written by hand and checked
 * with an independent codec: pyasn1 0.6 schemas written from
 * doc/devreg-protocol.md and RFC 4120/4556 decoded each constant and
 * re-encoded it with pyasn1's DER encoder to the same bytes, and
 * `openssl asn1parse -inform DER` shows the expected tree.  Larger
 * expected encodings are built in the test with der_tlv(), a DER writer
 * independent of the OpenSSL templates under test.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <krb5/krb5.h>

#include "ks_asn1.h"
#include "ks_freshness.h"
#include "ks_iana.h"
#include "unit_der.h"
#include "unit_util.h"

static krb5_context ctx;

/* ---- a small DER writer for expected and malformed encodings ------------ */

#define SEQ(...) der_tlv(0x30, cat(__VA_ARGS__))
#define OCTETS(p, n) der_tlv(0x04, raw(p, n))
#define UTF8(s) der_tlv(0x0c, raw(s, strlen(s)))
#define GTIME(s) der_tlv(0x18, raw(s, strlen(s)))

/* ---- decoders under a common signature ---------------------------------- */

enum decoder {
    DEC_MESSAGE, DEC_AUTH_PACK, DEC_DH_INFO, DEC_FRESHNESS, DEC_PRINCIPAL,
    DEC_AUTHDATA,
};

/* Run decoder which on the len bytes at der, free what it returns, and
 * return its code. */
static krb5_error_code
try_decode(enum decoder which, const unsigned char *der, size_t len)
{
    struct ks_devreg_message *msg = NULL;
    struct ks_devreg_auth_pack *ap = NULL;
    struct ks_devreg_dh_info *dh = NULL;
    struct ks_freshness_plain *fp = NULL;
    krb5_principal princ = NULL;
    krb5_authdata **ad = NULL;
    krb5_error_code ret = EINVAL;

    switch (which) {
    case DEC_MESSAGE:
        ret = ks_devreg_message_decode(der, len, &msg);
        ck_assert(ret != 0 || msg != NULL);
        ks_devreg_message_free(msg);
        break;
    case DEC_AUTH_PACK:
        ret = ks_devreg_auth_pack_decode(der, len, &ap);
        ks_devreg_auth_pack_free(ap);
        break;
    case DEC_DH_INFO:
        ret = ks_devreg_dh_info_decode(der, len, &dh);
        ks_devreg_dh_info_free(dh);
        break;
    case DEC_FRESHNESS:
        ret = ks_freshness_plain_decode(der, len, &fp);
        ks_freshness_plain_free(fp);
        break;
    case DEC_PRINCIPAL:
        ret = ks_krb5_principal_name_decode(ctx, der, len, &princ);
        krb5_free_principal(ctx, princ);
        break;
    case DEC_AUTHDATA:
        ret = ks_authdata_decode(der, len, &ad);
        krb5_free_authdata(ctx, ad);
        break;
    }
    return ret;
}

/* Decode der with decoder which, encode the result again and return the
 * bytes (fails the test if either step fails). */
static struct bytes
reencode(enum decoder which, const unsigned char *der, size_t len)
{
    struct ks_devreg_message *msg = NULL;
    struct ks_devreg_auth_pack *ap = NULL;
    struct ks_devreg_dh_info *dh = NULL;
    struct ks_freshness_plain *fp = NULL;
    krb5_principal princ = NULL;
    krb5_authdata **ad = NULL;
    struct bytes out = { NULL, 0 };

    switch (which) {
    case DEC_MESSAGE:
        ck_assert_int_eq(ks_devreg_message_decode(der, len, &msg), 0);
        ck_assert_int_eq(ks_devreg_message_encode(msg, &out.p, &out.n), 0);
        ks_devreg_message_free(msg);
        break;
    case DEC_AUTH_PACK:
        ck_assert_int_eq(ks_devreg_auth_pack_decode(der, len, &ap), 0);
        ck_assert_int_eq(ks_devreg_auth_pack_encode(ap, &out.p, &out.n), 0);
        ks_devreg_auth_pack_free(ap);
        break;
    case DEC_DH_INFO:
        ck_assert_int_eq(ks_devreg_dh_info_decode(der, len, &dh), 0);
        ck_assert_int_eq(ks_devreg_dh_info_encode(dh, &out.p, &out.n), 0);
        ks_devreg_dh_info_free(dh);
        break;
    case DEC_FRESHNESS:
        ck_assert_int_eq(ks_freshness_plain_decode(der, len, &fp), 0);
        ck_assert_int_eq(ks_freshness_plain_encode(fp, &out.p, &out.n), 0);
        ks_freshness_plain_free(fp);
        break;
    case DEC_PRINCIPAL:
        ck_assert_int_eq(ks_krb5_principal_name_decode(ctx, der, len,
                                                       &princ), 0);
        ck_assert_int_eq(ks_krb5_principal_name_der(ctx, princ, &out.p,
                                                    &out.n), 0);
        krb5_free_principal(ctx, princ);
        break;
    case DEC_AUTHDATA:
        ck_assert_int_eq(ks_authdata_decode(der, len, &ad), 0);
        ck_assert_int_eq(ks_authdata_encode(ad, &out.p, &out.n), 0);
        krb5_free_authdata(ctx, ad);
        break;
    }
    return out;
}

/*
 * The strictness every decoder owes its valid input der: it decodes and
 * re-encodes to the same bytes; any byte appended is refused
 * (ASN1_BAD_LENGTH); every proper prefix is refused; and after any
 * single-byte change, the input is refused or it re-encodes to itself
 * (nothing but canonical DER is ever accepted).
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
    ck_assert_int_eq(try_decode(which, buf, len + 1), ASN1_BAD_LENGTH);
    buf[len] = 0x30;
    ck_assert_int_eq(try_decode(which, buf, len + 1), ASN1_BAD_LENGTH);
    for (i = 0; i < len; i++)
        ck_assert_int_ne(try_decode(which, buf, i), 0);
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

/* Assert that decoder which refuses b (consumed) with code want (0: any
 * nonzero code). */
static void
assert_refused(enum decoder which, struct bytes b, krb5_error_code want)
{
    krb5_error_code ret = try_decode(which, b.p, b.n);

    if (want == 0)
        ck_assert_int_ne(ret, 0);
    else
        ck_assert_int_eq(ret, want);
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

static unsigned char x25519_pub[KS_DEVREG_X25519_PUBLIC_LEN];
static unsigned char p256_pub[KS_DEVREG_P256_PUBLIC_LEN];
static char token[] = "freshness-token-bytes";
static int32_t two_groups[] = { KS_DEVREG_GROUP_X25519, KS_DEVREG_GROUP_P256 };

static krb5_data
mkdata(const void *p, size_t n)
{
    krb5_data d;

    d.magic = KV5M_DATA;
    d.data = (char *)p;
    d.length = n;
    return d;
}

static void
setup(void)
{
    size_t i;

    ck_assert_int_eq(krb5_init_context(&ctx), 0);
    for (i = 0; i < sizeof(x25519_pub); i++)
        x25519_pub[i] = (unsigned char)(0x40 + i);
    p256_pub[0] = 0x04;
    for (i = 1; i < sizeof(p256_pub); i++)
        p256_pub[i] = (unsigned char)(0x80 + i);
}

static void
teardown(void)
{
    krb5_free_context(ctx);
}

/* A sample of each message type: type, then the fields. */
static void
sample_message(enum ks_devreg_msg_type type, struct ks_devreg_message *m)
{
    static char cms[] = "\x30\x80 pretend ContentInfo";
    static char apreq[] = "\x6e\x82 pretend AP-REQ";
    static char text[] = "anonymous registration is disabled";

    memset(m, 0, sizeof(*m));
    m->type = type;
    switch (type) {
    case KS_DEVREG_MSG_CHALLENGE:
        m->u.challenge.freshness_token = mkdata(token, sizeof(token) - 1);
        m->u.challenge.groups = two_groups;
        m->u.challenge.ngroups = 2;
        m->u.challenge.anonymous_ok = TRUE;
        break;
    case KS_DEVREG_MSG_REGISTER:
        m->u.reg.mode = KS_DEVREG_MODE_STAGED;
        m->u.reg.auth_pack = mkdata(cms, sizeof(cms) - 1);
        break;
    case KS_DEVREG_MSG_REPLY:
        m->u.reply.signed_dh_info = mkdata(cms, sizeof(cms) - 1);
        break;
    case KS_DEVREG_MSG_LOGIN:
        m->u.login.ap_req = mkdata(apreq, sizeof(apreq) - 1);
        break;
    case KS_DEVREG_MSG_ERROR:
        m->u.error.code = KS_DEVREG_E_ANONYMOUS_DISABLED;
        m->u.error.text = text;
        break;
    }
}

static int
data_eq(const krb5_data *a, const krb5_data *b)
{
    return a->length == b->length &&
        (a->length == 0 || memcmp(a->data, b->data, a->length) == 0);
}

/* Nonzero if two messages hold the same values. */
static int
message_eq(const struct ks_devreg_message *a,
           const struct ks_devreg_message *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case KS_DEVREG_MSG_CHALLENGE:
        return data_eq(&a->u.challenge.freshness_token,
                       &b->u.challenge.freshness_token) &&
            a->u.challenge.ngroups == b->u.challenge.ngroups &&
            memcmp(a->u.challenge.groups, b->u.challenge.groups,
                   a->u.challenge.ngroups * sizeof(int32_t)) == 0 &&
            !a->u.challenge.anonymous_ok == !b->u.challenge.anonymous_ok;
    case KS_DEVREG_MSG_REGISTER:
        return a->u.reg.mode == b->u.reg.mode &&
            data_eq(&a->u.reg.auth_pack, &b->u.reg.auth_pack);
    case KS_DEVREG_MSG_REPLY:
        return data_eq(&a->u.reply.signed_dh_info,
                       &b->u.reply.signed_dh_info);
    case KS_DEVREG_MSG_LOGIN:
        return data_eq(&a->u.login.ap_req, &b->u.login.ap_req);
    case KS_DEVREG_MSG_ERROR:
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
message_round_trip(const struct ks_devreg_message *m)
{
    struct ks_devreg_message *back = NULL;
    struct bytes der;

    ck_assert_int_eq(ks_devreg_message_encode(m, &der.p, &der.n), 0);
    ck_assert_int_eq(ks_devreg_message_decode(der.p, der.n, &back), 0);
    ck_assert(message_eq(m, back));
    ks_devreg_message_free(back);
    return der;
}

/* A sample DevregAuthPack of group g. */
static void
sample_auth_pack(int32_t g, struct ks_devreg_auth_pack *ap)
{
    memset(ap, 0, sizeof(*ap));
    ap->freshness_token = mkdata(token, sizeof(token) - 1);
    memset(ap->req_body_hash, 0x5a, sizeof(ap->req_body_hash));
    ap->req_body_hash[0] = 0x01;
    ap->ctime = 1767225600 + 12345;     /* 2026-01-01 03:25:45Z */
    ap->group = g;
    if (g == KS_DEVREG_GROUP_X25519)
        ap->client_public = mkdata(x25519_pub, sizeof(x25519_pub));
    else
        ap->client_public = mkdata(p256_pub, sizeof(p256_pub));
}

/* The DER of sample_auth_pack(X25519), built independently. */
static struct bytes
auth_pack_der(void)
{
    unsigned char hash[KS_SHA256_LEN];

    memset(hash, 0x5a, sizeof(hash));
    hash[0] = 0x01;
    return SEQ(5, ctx_tag(0, OCTETS(token, sizeof(token) - 1)),
               ctx_tag(1, OCTETS(hash, sizeof(hash))),
               ctx_tag(2, GTIME("20260101032545Z")),
               ctx_tag(3, der_int(1)),
               ctx_tag(4, OCTETS(x25519_pub, sizeof(x25519_pub))));
}

/* ---- exact DER ---------------------------------------------------------- */

static const unsigned char error_code3_der[] = {
    0xa4, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x02, 0x01, 0x03,
};
static const unsigned char error_hi_der[] = {
    0xa4, 0x0d, 0x30, 0x0b, 0xa0, 0x03, 0x02, 0x01, 0x07,
    0xa1, 0x04, 0x0c, 0x02, 'h', 'i',
};
static const unsigned char challenge_der[] = {
    0xa0, 0x1b, 0x30, 0x19,
    0xa0, 0x03, 0x02, 0x01, 0x01,                       /* version 1 */
    0xa1, 0x03, 0x04, 0x01, 'T',                        /* token "T" */
    0xa2, 0x08, 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02,
    0xa3, 0x03, 0x01, 0x01, 0xff,                       /* TRUE */
};
static const unsigned char register_der[] = {
    0xa1, 0x12, 0x30, 0x10,
    0xa0, 0x03, 0x02, 0x01, 0x01,
    0xa1, 0x03, 0x02, 0x01, 0x02,                       /* anonymous */
    0xa2, 0x04, 0x04, 0x02, 'A', 'P',
};
static const unsigned char reply_der[] = {
    0xa2, 0x08, 0x30, 0x06, 0xa0, 0x04, 0x04, 0x02, 0x30, 0x00,
};
static const unsigned char login_der[] = {
    0xa3, 0x0d, 0x30, 0x0b, 0xa0, 0x03, 0x02, 0x01, 0x01,
    0xa1, 0x04, 0x04, 0x02, 0x6e, 0x00,
};
static const unsigned char freshness_der[] = {
    0x30, 0x1a, 0xa0, 0x11, 0x18, 0x0f,
    '2', '0', '2', '6', '0', '1', '0', '1', '0', '0', '0', '0', '0', '0', 'Z',
    0xa1, 0x05, 0x0c, 0x03, 'a', '@', 'R',
};
static const unsigned char lha_der[] = {        /* lha@SU.SE, NT-PRINCIPAL */
    0x30, 0x1b, 0xa0, 0x07, 0x1b, 0x05, 'S', 'U', '.', 'S', 'E',
    0xa1, 0x10, 0x30, 0x0e, 0xa0, 0x03, 0x02, 0x01, 0x01,
    0xa1, 0x07, 0x30, 0x05, 0x1b, 0x03, 'l', 'h', 'a',
};
static const unsigned char indicator_der[] = {  /* { "a", "bc" } */
    0x30, 0x07, 0x0c, 0x01, 'a', 0x0c, 0x02, 'b', 'c',
};
static const unsigned char authdata_der[] = {   /* { (1, 30 00) } */
    0x30, 0x0d, 0x30, 0x0b, 0xa0, 0x03, 0x02, 0x01, 0x01,
    0xa1, 0x04, 0x04, 0x02, 0x30, 0x00,
};

/* Assert that encoding m gives exactly the n bytes at want. */
static void
assert_message_der(const struct ks_devreg_message *m,
                   const unsigned char *want, size_t n)
{
    unsigned char *der = NULL;
    size_t len = 0;

    ck_assert_int_eq(ks_devreg_message_encode(m, &der, &len), 0);
    ck_assert_uint_eq(len, n);
    ck_assert_mem_eq(der, want, n);
    free(der);
}

START_TEST(test_exact_der_messages)
{
    struct ks_devreg_message m;
    static int32_t groups[] = { 1, 2 };
    struct ks_devreg_message *back = NULL;

    memset(&m, 0, sizeof(m));
    m.type = KS_DEVREG_MSG_ERROR;
    m.u.error.code = 3;
    assert_message_der(&m, error_code3_der, sizeof(error_code3_der));
    m.u.error.code = 7;
    m.u.error.text = (char *)"hi";
    assert_message_der(&m, error_hi_der, sizeof(error_hi_der));

    memset(&m, 0, sizeof(m));
    m.type = KS_DEVREG_MSG_CHALLENGE;
    m.u.challenge.freshness_token = mkdata("T", 1);
    m.u.challenge.groups = groups;
    m.u.challenge.ngroups = 2;
    m.u.challenge.anonymous_ok = TRUE;
    assert_message_der(&m, challenge_der, sizeof(challenge_der));

    memset(&m, 0, sizeof(m));
    m.type = KS_DEVREG_MSG_REGISTER;
    m.u.reg.mode = KS_DEVREG_MODE_ANONYMOUS;
    m.u.reg.auth_pack = mkdata("AP", 2);
    assert_message_der(&m, register_der, sizeof(register_der));

    memset(&m, 0, sizeof(m));
    m.type = KS_DEVREG_MSG_REPLY;
    m.u.reply.signed_dh_info = mkdata("\x30\x00", 2);
    assert_message_der(&m, reply_der, sizeof(reply_der));

    memset(&m, 0, sizeof(m));
    m.type = KS_DEVREG_MSG_LOGIN;
    m.u.login.ap_req = mkdata("\x6e\x00", 2);
    assert_message_der(&m, login_der, sizeof(login_der));

    /* And the decoder reads the constants back to the values. */
    ck_assert_int_eq(ks_devreg_message_decode(error_code3_der,
                                              sizeof(error_code3_der),
                                              &back), 0);
    ck_assert_int_eq(back->type, KS_DEVREG_MSG_ERROR);
    ck_assert_int_eq(back->u.error.code, 3);
    ck_assert_ptr_null(back->u.error.text);
    ks_devreg_message_free(back);
    ck_assert_int_eq(ks_devreg_message_decode(challenge_der,
                                              sizeof(challenge_der),
                                              &back), 0);
    ck_assert_int_eq(back->type, KS_DEVREG_MSG_CHALLENGE);
    ck_assert_uint_eq(back->u.challenge.freshness_token.length, 1);
    ck_assert_uint_eq(back->u.challenge.ngroups, 2);
    ck_assert_int_eq(back->u.challenge.groups[1], 2);
    ck_assert(back->u.challenge.anonymous_ok);
    ks_devreg_message_free(back);
}
END_TEST

START_TEST(test_exact_der_other_types)
{
    struct ks_freshness_plain fp, *fpback = NULL;
    struct ks_devreg_auth_pack ap;
    krb5_principal lha;
    struct bytes want;
    char *list[] = { (char *)"a", (char *)"bc", NULL };
    krb5_authdata ad = { KV5M_AUTHDATA, 1, 2, (krb5_octet *)"\x30\x00" };
    krb5_authdata *adlist[] = { &ad, NULL };
    unsigned char *der = NULL;
    size_t len = 0;

    fp.kdc_time = 1767225600;           /* 2026-01-01 00:00:00Z */
    fp.client = (char *)"a@R";
    ck_assert_int_eq(ks_freshness_plain_encode(&fp, &der, &len), 0);
    ck_assert_uint_eq(len, sizeof(freshness_der));
    ck_assert_mem_eq(der, freshness_der, len);
    free(der);
    ck_assert_int_eq(ks_freshness_plain_decode(freshness_der,
                                               sizeof(freshness_der),
                                               &fpback), 0);
    ck_assert_int_eq(fpback->kdc_time, 1767225600);
    ck_assert_str_eq(fpback->client, "a@R");
    ks_freshness_plain_free(fpback);

    ck_assert_int_eq(krb5_parse_name(ctx, "lha@SU.SE", &lha), 0);
    ck_assert_int_eq(ks_krb5_principal_name_der(ctx, lha, &der, &len), 0);
    ck_assert_uint_eq(len, sizeof(lha_der));
    ck_assert_mem_eq(der, lha_der, len);
    free(der);
    krb5_free_principal(ctx, lha);

    ck_assert_int_eq(ks_auth_indicator_encode(list, &der, &len), 0);
    ck_assert_uint_eq(len, sizeof(indicator_der));
    ck_assert_mem_eq(der, indicator_der, len);
    free(der);

    ck_assert_int_eq(ks_authdata_encode(adlist, &der, &len), 0);
    ck_assert_uint_eq(len, sizeof(authdata_der));
    ck_assert_mem_eq(der, authdata_der, len);
    free(der);

    sample_auth_pack(KS_DEVREG_GROUP_X25519, &ap);
    ck_assert_int_eq(ks_devreg_auth_pack_encode(&ap, &der, &len), 0);
    want = auth_pack_der();
    ck_assert_uint_eq(len, want.n);
    ck_assert_mem_eq(der, want.p, len);
    free(der);
    free(want.p);
}
END_TEST

/* ---- round trips and strictness ----------------------------------------- */

START_TEST(test_message_round_trip)
{
    struct ks_devreg_message m;
    struct bytes der;

    sample_message((enum ks_devreg_msg_type)_i, &m);
    der = message_round_trip(&m);
    assert_strict(DEC_MESSAGE, der.p, der.n);
    free(der.p);
}
END_TEST

START_TEST(test_message_variants)
{
    struct ks_devreg_message m;
    struct bytes der;
    int32_t many[KS_DEVREG_MAX_GROUPS], odd[] = { 7, INT32_MAX };
    char *text;
    size_t i;

    /* Anonymous not OK; groups this version does not know are kept. */
    sample_message(KS_DEVREG_MSG_CHALLENGE, &m);
    m.u.challenge.anonymous_ok = FALSE;
    m.u.challenge.groups = odd;
    free(message_round_trip(&m).p);
    for (i = 0; i < KS_DEVREG_MAX_GROUPS; i++)
        many[i] = (int32_t)(i + 1);
    m.u.challenge.groups = many;
    m.u.challenge.ngroups = KS_DEVREG_MAX_GROUPS;
    free(message_round_trip(&m).p);

    /* Largest token. */
    der = fill('t', KS_DEVREG_MAX_TOKEN);
    m.u.challenge.freshness_token = mkdata(der.p, der.n);
    free(message_round_trip(&m).p);
    free(der.p);

    sample_message(KS_DEVREG_MSG_REGISTER, &m);
    m.u.reg.mode = KS_DEVREG_MODE_ANONYMOUS;
    free(message_round_trip(&m).p);

    /* Errors: no text, empty text, multi-byte UTF-8, longest text, and
     * codes this version does not know. */
    sample_message(KS_DEVREG_MSG_ERROR, &m);
    m.u.error.text = NULL;
    free(message_round_trip(&m).p);
    m.u.error.text = (char *)"";
    free(message_round_trip(&m).p);
    m.u.error.text = (char *)"caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80";
    free(message_round_trip(&m).p);
    text = malloc(KS_DEVREG_MAX_TEXT + 1);
    ck_assert_ptr_nonnull(text);
    memset(text, 'x', KS_DEVREG_MAX_TEXT);
    text[KS_DEVREG_MAX_TEXT] = '\0';
    m.u.error.text = text;
    free(message_round_trip(&m).p);
    free(text);
    m.u.error.text = NULL;
    m.u.error.code = -5;
    free(message_round_trip(&m).p);
    m.u.error.code = INT32_MAX;
    free(message_round_trip(&m).p);
}
END_TEST

START_TEST(test_auth_pack_round_trip)
{
    struct ks_devreg_auth_pack ap, *back = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    int32_t group = _i ? KS_DEVREG_GROUP_P256 : KS_DEVREG_GROUP_X25519;

    sample_auth_pack(group, &ap);
    ck_assert_int_eq(ks_devreg_auth_pack_encode(&ap, &der, &len), 0);
    ck_assert_int_eq(ks_devreg_auth_pack_decode(der, len, &back), 0);
    ck_assert(data_eq(&back->freshness_token, &ap.freshness_token));
    ck_assert_mem_eq(back->req_body_hash, ap.req_body_hash, KS_SHA256_LEN);
    ck_assert_int_eq(back->ctime, ap.ctime);
    ck_assert_int_eq(back->group, group);
    ck_assert(data_eq(&back->client_public, &ap.client_public));
    ks_devreg_auth_pack_free(back);
    assert_strict(DEC_AUTH_PACK, der, len);
    free(der);
}
END_TEST

START_TEST(test_dh_info_round_trip)
{
    struct ks_devreg_dh_info dh, *back = NULL;
    unsigned char *der = NULL;
    size_t len = 0;

    memset(&dh, 0, sizeof(dh));
    memset(dh.auth_pack_hash, 0xc3, sizeof(dh.auth_pack_hash));
    dh.group = _i ? KS_DEVREG_GROUP_P256 : KS_DEVREG_GROUP_X25519;
    dh.kdc_public = _i ? mkdata(p256_pub, sizeof(p256_pub)) :
        mkdata(x25519_pub, sizeof(x25519_pub));
    ck_assert_int_eq(ks_devreg_dh_info_encode(&dh, &der, &len), 0);
    ck_assert_int_eq(ks_devreg_dh_info_decode(der, len, &back), 0);
    ck_assert_mem_eq(back->auth_pack_hash, dh.auth_pack_hash, KS_SHA256_LEN);
    ck_assert_int_eq(back->group, dh.group);
    ck_assert(data_eq(&back->kdc_public, &dh.kdc_public));
    ks_devreg_dh_info_free(back);
    assert_strict(DEC_DH_INFO, der, len);
    free(der);
}
END_TEST

START_TEST(test_freshness_round_trip)
{
    static const time_t times[] = {
        0, 951782400 /* 2000-02-29 */, 1767225600, 4102444800LL /* 2100 */,
        253402300799LL /* 9999-12-31 23:59:59 */,
    };
    struct ks_freshness_plain fp, *back = NULL;
    unsigned char *der = NULL;
    size_t len = 0, i;

    for (i = 0; i < sizeof(times) / sizeof(*times); i++) {
        fp.kdc_time = times[i];
        fp.client = (char *)"device/d\xc3\xa9vice-1@EXAMPLE.TEST";
        ck_assert_int_eq(ks_freshness_plain_encode(&fp, &der, &len), 0);
        ck_assert_int_eq(ks_freshness_plain_decode(der, len, &back), 0);
        ck_assert_int_eq(back->kdc_time, times[i]);
        ck_assert_str_eq(back->client, fp.client);
        ks_freshness_plain_free(back);
        back = NULL;
        if (i == 2)
            assert_strict(DEC_FRESHNESS, der, len);
        free(der);
    }
}
END_TEST

START_TEST(test_principal_round_trip)
{
    static const char *const names[] = {
        "lha@SU.SE", "krbtgt/SU.SE@SU.SE", "device/d1@EXAMPLE.TEST",
        "host/a.example.test@EXAMPLE.TEST", "a/b/c/d@R",
        "WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS",
    };
    krb5_principal p, back;
    unsigned char *der = NULL;
    size_t len = 0, i;

    for (i = 0; i < sizeof(names) / sizeof(*names); i++) {
        ck_assert_int_eq(krb5_parse_name(ctx, names[i], &p), 0);
        ck_assert_int_eq(ks_krb5_principal_name_der(ctx, p, &der, &len), 0);
        ck_assert_int_eq(ks_krb5_principal_name_decode(ctx, der, len, &back),
                         0);
        ck_assert(krb5_principal_compare(ctx, p, back));
        ck_assert_int_eq(back->type, p->type);
        assert_strict(DEC_PRINCIPAL, der, len);
        krb5_free_principal(ctx, back);
        krb5_free_principal(ctx, p);
        free(der);
    }

    /* Components holding '/', '@' and NUL bytes, an empty component, and
     * a name type krb5_parse_name() never gives. */
    ck_assert_int_eq(krb5_build_principal_ext(ctx, &p, 4, "R\0@/",
                                              3, "a/b", 0, "", 3, "\0@\0",
                                              0), 0);
    p->type = KRB5_NT_SRV_HST;
    ck_assert_int_eq(ks_krb5_principal_name_der(ctx, p, &der, &len), 0);
    ck_assert_int_eq(ks_krb5_principal_name_decode(ctx, der, len, &back), 0);
    ck_assert(krb5_principal_compare(ctx, p, back));
    ck_assert_int_eq(back->type, KRB5_NT_SRV_HST);
    krb5_free_principal(ctx, back);
    krb5_free_principal(ctx, p);
    free(der);
}
END_TEST

START_TEST(test_principal_refused)
{
    struct bytes comps = raw("", 0);
    int i;

    /* Sanity: the builder's lha@SU.SE is accepted. */
    assert_accepted(DEC_PRINCIPAL,
                    SEQ(2, ctx_tag(0, der_tlv(0x1b, raw("SU.SE", 5))),
                        ctx_tag(1, SEQ(2, ctx_tag(0, der_int(1)),
                                       ctx_tag(1, SEQ(1, der_tlv(0x1b,
                                                         raw("lha", 3))))))));
    /* Empty realm. */
    assert_refused(DEC_PRINCIPAL,
                   SEQ(2, ctx_tag(0, der_tlv(0x1b, raw("", 0))),
                       ctx_tag(1, SEQ(2, ctx_tag(0, der_int(1)),
                                      ctx_tag(1, SEQ(1, der_tlv(0x1b,
                                                        raw("lha", 3))))))),
                   ASN1_BAD_FORMAT);
    /* No component. */
    assert_refused(DEC_PRINCIPAL,
                   SEQ(2, ctx_tag(0, der_tlv(0x1b, raw("R", 1))),
                       ctx_tag(1, SEQ(2, ctx_tag(0, der_int(1)),
                                      ctx_tag(1, SEQ(0))))),
                   ASN1_BAD_FORMAT);
    /* Too many components. */
    for (i = 0; i <= KS_PRINC_MAX_COMPONENTS; i++)
        comps = cat(2, comps, der_tlv(0x1b, raw("c", 1)));
    assert_refused(DEC_PRINCIPAL,
                   SEQ(2, ctx_tag(0, der_tlv(0x1b, raw("R", 1))),
                       ctx_tag(1, SEQ(2, ctx_tag(0, der_int(1)),
                                      ctx_tag(1, der_tlv(0x30, comps))))),
                   ASN1_BAD_FORMAT);
    /* A component too long. */
    assert_refused(DEC_PRINCIPAL,
                   SEQ(2, ctx_tag(0, der_tlv(0x1b, raw("R", 1))),
                       ctx_tag(1, SEQ(2, ctx_tag(0, der_int(1)),
                                      ctx_tag(1, SEQ(1, der_tlv(0x1b,
                                          fill('c', KS_PRINC_MAX_STRING +
                                               1))))))),
                   ASN1_BAD_FORMAT);
    /* UTF8String where GeneralString belongs. */
    assert_refused(DEC_PRINCIPAL,
                   SEQ(2, ctx_tag(0, der_tlv(0x0c, raw("R", 1))),
                       ctx_tag(1, SEQ(2, ctx_tag(0, der_int(1)),
                                      ctx_tag(1, SEQ(1, der_tlv(0x1b,
                                                        raw("c", 1))))))),
                   0);
    /* Name type beyond Int32. */
    assert_refused(DEC_PRINCIPAL,
                   SEQ(2, ctx_tag(0, der_tlv(0x1b, raw("R", 1))),
                       ctx_tag(1, SEQ(2, ctx_tag(0, der_tlv(0x02,
                                          raw("\x01\x00\x00\x00\x00", 5))),
                                      ctx_tag(1, SEQ(1, der_tlv(0x1b,
                                                        raw("c", 1))))))),
                   0);
}
END_TEST

START_TEST(test_authdata_round_trip)
{
    krb5_authdata a = { KV5M_AUTHDATA, 97, 3, (krb5_octet *)"abc" };
    krb5_authdata b = { KV5M_AUTHDATA, -150, 0, NULL };
    krb5_authdata c = { KV5M_AUTHDATA, INT32_MAX, 1, (krb5_octet *)"\0" };
    krb5_authdata *list[] = { &a, &b, &c, NULL }, *none[] = { NULL };
    krb5_authdata **back = NULL;
    unsigned char *der = NULL;
    size_t len = 0, i;

    ck_assert_int_eq(ks_authdata_encode(list, &der, &len), 0);
    ck_assert_int_eq(ks_authdata_decode(der, len, &back), 0);
    for (i = 0; i < 3; i++) {
        ck_assert_ptr_nonnull(back[i]);
        ck_assert_int_eq(back[i]->ad_type, list[i]->ad_type);
        ck_assert_uint_eq(back[i]->length, list[i]->length);
        ck_assert(list[i]->length == 0 ||
                  memcmp(back[i]->contents, list[i]->contents,
                         list[i]->length) == 0);
    }
    ck_assert_ptr_null(back[3]);
    krb5_free_authdata(ctx, back);
    assert_strict(DEC_AUTHDATA, der, len);
    free(der);

    /* Empty lists: NULL and { NULL } both give an empty SEQUENCE. */
    ck_assert_int_eq(ks_authdata_encode(NULL, &der, &len), 0);
    ck_assert_uint_eq(len, 2);
    ck_assert_mem_eq(der, "\x30\x00", 2);
    ck_assert_int_eq(ks_authdata_decode(der, len, &back), 0);
    ck_assert_ptr_null(back[0]);
    krb5_free_authdata(ctx, back);
    free(der);
    ck_assert_int_eq(ks_authdata_encode(none, &der, &len), 0);
    ck_assert_uint_eq(len, 2);
    free(der);
}
END_TEST

/* ---- refusals ----------------------------------------------------------- */

/* The challenge of challenge_der rebuilt with its fields replaced. */
static struct bytes
challenge_with(struct bytes version, struct bytes tok, struct bytes groups,
               struct bytes anon)
{
    return ctx_tag(0, SEQ(4, version, tok, groups, anon));
}

#define V1 ctx_tag(0, der_int(1))
#define TOK ctx_tag(1, OCTETS("T", 1))
#define GROUPS ctx_tag(2, SEQ(2, der_int(1), der_int(2)))
#define ANON ctx_tag(3, der_tlv(0x01, raw("\xff", 1)))

START_TEST(test_refuse_wrong_tags_and_choice)
{
    unsigned char buf[sizeof(challenge_der)];

    /* The builder agrees with the constant. */
    {
        struct bytes b = challenge_with(V1, TOK, GROUPS, ANON);

        ck_assert_uint_eq(b.n, sizeof(challenge_der));
        ck_assert_mem_eq(b.p, challenge_der, b.n);
        free(b.p);
    }
    /* A CHOICE tag no alternative has, and other tag classes. */
    memcpy(buf, challenge_der, sizeof(buf));
    buf[0] = 0xa5;
    ck_assert_int_eq(try_decode(DEC_MESSAGE, buf, sizeof(buf)),
                     ASN1_PARSE_ERROR);
    buf[0] = 0x80;                      /* [0] primitive */
    ck_assert_int_ne(try_decode(DEC_MESSAGE, buf, sizeof(buf)), 0);
    buf[0] = 0x60;                      /* [APPLICATION 0] */
    ck_assert_int_ne(try_decode(DEC_MESSAGE, buf, sizeof(buf)), 0);
    /* A bare SEQUENCE (no CHOICE tag at all). */
    ck_assert_int_ne(try_decode(DEC_MESSAGE, challenge_der + 2,
                                sizeof(challenge_der) - 2), 0);
    /* Each alternative's body under every other alternative's tag. */
    memcpy(buf, challenge_der, sizeof(buf));
    buf[0] = 0xa1;
    ck_assert_int_ne(try_decode(DEC_MESSAGE, buf, sizeof(buf)), 0);
    buf[0] = 0xa2;
    ck_assert_int_ne(try_decode(DEC_MESSAGE, buf, sizeof(buf)), 0);
    buf[0] = 0xa3;
    ck_assert_int_ne(try_decode(DEC_MESSAGE, buf, sizeof(buf)), 0);
    buf[0] = 0xa4;
    ck_assert_int_ne(try_decode(DEC_MESSAGE, buf, sizeof(buf)), 0);
    assert_refused(DEC_MESSAGE, cat(2, raw("\xa0", 1),
                                    raw(login_der + 1,
                                        sizeof(login_der) - 1)), 0);
    assert_refused(DEC_MESSAGE, cat(2, raw("\xa3", 1),
                                    raw(reply_der + 1,
                                        sizeof(reply_der) - 1)), 0);
    /* SET instead of SEQUENCE; fields in the wrong order or wrong tags. */
    memcpy(buf, challenge_der, sizeof(buf));
    buf[2] = 0x31;
    ck_assert_int_ne(try_decode(DEC_MESSAGE, buf, sizeof(buf)), 0);
    assert_refused(DEC_MESSAGE, challenge_with(TOK, V1, GROUPS, ANON), 0);
    assert_refused(DEC_MESSAGE,
                   challenge_with(V1, ctx_tag(2, OCTETS("T", 1)),
                                  ctx_tag(1, SEQ(1, der_int(1))), ANON), 0);
    /* OCTET STRING where an INTEGER belongs, and the reverse. */
    assert_refused(DEC_MESSAGE,
                   challenge_with(ctx_tag(0, OCTETS("\x01", 1)), TOK,
                                  GROUPS, ANON), 0);
    assert_refused(DEC_MESSAGE,
                   challenge_with(V1, ctx_tag(1, der_int(5)), GROUPS, ANON),
                   0);
    /* An empty input, a lone tag. */
    ck_assert_int_eq(try_decode(DEC_MESSAGE, challenge_der, 0),
                     ASN1_BAD_LENGTH);
    ck_assert_int_eq(try_decode(DEC_MESSAGE, NULL, 0), ASN1_BAD_LENGTH);
    ck_assert_int_ne(try_decode(DEC_MESSAGE, challenge_der, 1), 0);
}
END_TEST

START_TEST(test_refuse_missing_fields)
{
    /* DevregChallenge without each of its four fields. */
    assert_refused(DEC_MESSAGE, ctx_tag(0, SEQ(3, TOK, GROUPS, ANON)), 0);
    assert_refused(DEC_MESSAGE, ctx_tag(0, SEQ(3, V1, GROUPS, ANON)), 0);
    assert_refused(DEC_MESSAGE, ctx_tag(0, SEQ(3, V1, TOK, ANON)), 0);
    assert_refused(DEC_MESSAGE, ctx_tag(0, SEQ(3, V1, TOK, GROUPS)), 0);
    /* DevregRegister without mode, without auth-pack. */
    assert_refused(DEC_MESSAGE,
                   ctx_tag(1, SEQ(2, V1, ctx_tag(2, OCTETS("AP", 2)))), 0);
    assert_refused(DEC_MESSAGE,
                   ctx_tag(1, SEQ(2, V1, ctx_tag(1, der_int(2)))), 0);
    /* Empty DevregReply and DevregLogin; DevregLogin without version. */
    assert_refused(DEC_MESSAGE, ctx_tag(2, SEQ(0)), 0);
    assert_refused(DEC_MESSAGE, ctx_tag(3, SEQ(0)), 0);
    assert_refused(DEC_MESSAGE,
                   ctx_tag(3, SEQ(1, ctx_tag(1, OCTETS("\x6e", 1)))), 0);
    /* DevregError with a text but no code. */
    assert_refused(DEC_MESSAGE, ctx_tag(4, SEQ(1, ctx_tag(1, UTF8("x")))),
                   0);
    /* An empty EXPLICIT wrapper. */
    assert_refused(DEC_MESSAGE, ctx_tag(0, raw("", 0)), 0);
    /* DevregAuthPack without client-public; DevregDHInfo without hash. */
    {
        unsigned char hash[KS_SHA256_LEN] = { 0 };

        assert_refused(DEC_AUTH_PACK,
                       SEQ(4, ctx_tag(0, OCTETS("t", 1)),
                           ctx_tag(1, OCTETS(hash, sizeof(hash))),
                           ctx_tag(2, GTIME("20260101000000Z")),
                           ctx_tag(3, der_int(1))), 0);
        assert_refused(DEC_DH_INFO,
                       SEQ(2, ctx_tag(1, der_int(1)),
                           ctx_tag(2, OCTETS(x25519_pub,
                                             sizeof(x25519_pub)))), 0);
    }
    /* FreshnessPlain without client. */
    assert_refused(DEC_FRESHNESS,
                   SEQ(1, ctx_tag(0, GTIME("20260101000000Z"))), 0);
}
END_TEST

START_TEST(test_refuse_bad_versions_and_ranges)
{
    /* Versions 0, 2 and 256 in each versioned message. */
    static const int bad[] = { 0, 2, 256, -1 };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_refused(DEC_MESSAGE,
                       challenge_with(ctx_tag(0, der_int(bad[i])), TOK,
                                      GROUPS, ANON), ASN1_BAD_FORMAT);
        assert_refused(DEC_MESSAGE,
                       ctx_tag(1, SEQ(3, ctx_tag(0, der_int(bad[i])),
                                      ctx_tag(1, der_int(1)),
                                      ctx_tag(2, OCTETS("AP", 2)))),
                       ASN1_BAD_FORMAT);
        assert_refused(DEC_MESSAGE,
                       ctx_tag(3, SEQ(2, ctx_tag(0, der_int(bad[i])),
                                      ctx_tag(1, OCTETS("\x6e", 1)))),
                       ASN1_BAD_FORMAT);
    }
    /* Modes 0 and 3. */
    assert_refused(DEC_MESSAGE,
                   ctx_tag(1, SEQ(3, V1, ctx_tag(1, der_int(0)),
                                  ctx_tag(2, OCTETS("AP", 2)))),
                   ASN1_BAD_FORMAT);
    assert_refused(DEC_MESSAGE,
                   ctx_tag(1, SEQ(3, V1, ctx_tag(1, der_int(3)),
                                  ctx_tag(2, OCTETS("AP", 2)))),
                   ASN1_BAD_FORMAT);
    /* Challenge groups: none, 0, negative, too many. */
    assert_refused(DEC_MESSAGE,
                   challenge_with(V1, TOK, ctx_tag(2, SEQ(0)), ANON),
                   ASN1_BAD_FORMAT);
    assert_refused(DEC_MESSAGE,
                   challenge_with(V1, TOK, ctx_tag(2, SEQ(1, der_int(0))),
                                  ANON), ASN1_BAD_FORMAT);
    assert_refused(DEC_MESSAGE,
                   challenge_with(V1, TOK, ctx_tag(2, SEQ(1, der_int(-2))),
                                  ANON), ASN1_BAD_FORMAT);
    {
        struct bytes g = raw("", 0);

        for (i = 0; i <= KS_DEVREG_MAX_GROUPS; i++)
            g = cat(2, g, der_int(1));
        assert_refused(DEC_MESSAGE,
                       challenge_with(V1, TOK, ctx_tag(2, der_tlv(0x30, g)),
                                      ANON), ASN1_BAD_FORMAT);
    }
    /* A group id beyond Int32. */
    assert_refused(DEC_MESSAGE,
                   challenge_with(V1, TOK,
                                  ctx_tag(2, SEQ(1, der_tlv(0x02,
                                      raw("\x00\x80\x00\x00\x00", 5)))),
                                  ANON), ASN1_BAD_FORMAT);
    /* Empty auth-pack, empty ap-req.  (An empty freshness token decodes:
     * the client passes it on and the KDC refuses it as missing.) */
    assert_refused(DEC_MESSAGE,
                   ctx_tag(1, SEQ(3, V1, ctx_tag(1, der_int(1)),
                                  ctx_tag(2, OCTETS("", 0)))),
                   ASN1_BAD_FORMAT);
    assert_refused(DEC_MESSAGE,
                   ctx_tag(3, SEQ(2, V1, ctx_tag(1, OCTETS("", 0)))),
                   ASN1_BAD_FORMAT);
}
END_TEST

/* A DevregAuthPack with the given group, public key, hash and time. */
static struct bytes
auth_pack_with(struct bytes group, struct bytes pub, struct bytes hash,
               struct bytes time)
{
    return SEQ(5, ctx_tag(0, OCTETS("t", 1)), ctx_tag(1, hash),
               ctx_tag(2, time), ctx_tag(3, group), ctx_tag(4, pub));
}

#define HASH32 OCTETS("0123456789abcdef0123456789abcdef", 32)
#define TIME_OK GTIME("20260101000000Z")

START_TEST(test_refuse_groups_and_keys)
{
    unsigned char p256_compressed[33];

    memset(p256_compressed, 0x11, sizeof(p256_compressed));
    p256_compressed[0] = 0x02;
    /* Sanity: both groups with keys of their size. */
    assert_accepted(DEC_AUTH_PACK,
                    auth_pack_with(der_int(1), OCTETS(x25519_pub, 32),
                                   HASH32, TIME_OK));
    assert_accepted(DEC_AUTH_PACK,
                    auth_pack_with(der_int(2), OCTETS(p256_pub, 65),
                                   HASH32, TIME_OK));
    /* Unknown groups. */
    assert_refused(DEC_AUTH_PACK,
                   auth_pack_with(der_int(0), OCTETS(x25519_pub, 32),
                                  HASH32, TIME_OK), ASN1_BAD_FORMAT);
    assert_refused(DEC_AUTH_PACK,
                   auth_pack_with(der_int(3), OCTETS(x25519_pub, 32),
                                  HASH32, TIME_OK), ASN1_BAD_FORMAT);
    /* Key of the other group's size, one byte short or long, P-256
     * compressed or with a bad prefix. */
    assert_refused(DEC_AUTH_PACK,
                   auth_pack_with(der_int(1), OCTETS(p256_pub, 65), HASH32,
                                  TIME_OK), ASN1_BAD_FORMAT);
    assert_refused(DEC_AUTH_PACK,
                   auth_pack_with(der_int(2), OCTETS(x25519_pub, 32),
                                  HASH32, TIME_OK), ASN1_BAD_FORMAT);
    assert_refused(DEC_AUTH_PACK,
                   auth_pack_with(der_int(1), OCTETS(x25519_pub, 31),
                                  HASH32, TIME_OK), ASN1_BAD_FORMAT);
    assert_refused(DEC_AUTH_PACK,
                   auth_pack_with(der_int(1), fill(0, 0), HASH32, TIME_OK),
                   0);
    assert_refused(DEC_AUTH_PACK,
                   auth_pack_with(der_int(2), OCTETS(p256_compressed, 33),
                                  HASH32, TIME_OK), ASN1_BAD_FORMAT);
    {
        unsigned char bad[65];

        memcpy(bad, p256_pub, 65);
        bad[0] = 0x06;
        assert_refused(DEC_AUTH_PACK,
                       auth_pack_with(der_int(2), OCTETS(bad, 65), HASH32,
                                      TIME_OK), ASN1_BAD_FORMAT);
    }
    assert_refused(DEC_AUTH_PACK,
                   auth_pack_with(der_int(1), der_tlv(0x04,
                                      fill(0x11, 1000)), HASH32, TIME_OK),
                   ASN1_BAD_FORMAT);
    /* Hashes that are not SHA-256 sized. */
    assert_refused(DEC_AUTH_PACK,
                   auth_pack_with(der_int(1), OCTETS(x25519_pub, 32),
                                  OCTETS("short", 5), TIME_OK),
                   ASN1_BAD_FORMAT);
    assert_refused(DEC_AUTH_PACK,
                   auth_pack_with(der_int(1), OCTETS(x25519_pub, 32),
                                  der_tlv(0x04, fill(1, 33)), TIME_OK),
                   ASN1_BAD_FORMAT);
    assert_refused(DEC_DH_INFO,
                   SEQ(3, ctx_tag(0, der_tlv(0x04, fill(1, 31))),
                       ctx_tag(1, der_int(1)),
                       ctx_tag(2, OCTETS(x25519_pub, 32))),
                   ASN1_BAD_FORMAT);
    assert_refused(DEC_DH_INFO,
                   SEQ(3, ctx_tag(0, der_tlv(0x04, fill(1, 32))),
                       ctx_tag(1, der_int(7)),
                       ctx_tag(2, OCTETS(x25519_pub, 32))),
                   ASN1_BAD_FORMAT);
}
END_TEST

START_TEST(test_refuse_times)
{
    static const char *const bad[] = {
        "202601010000Z",                /* no seconds */
        "20260101000000",               /* no Z */
        "20260101000000.5Z",            /* fraction */
        "20260101000000+0100",          /* offset */
        "20260101000000z",
        "2026010100000aZ",
        "20260230000000Z",              /* 30 February */
        "20261301000000Z",              /* month 13 */
        "20260101240000Z",              /* hour 24 */
        "20260101006000Z",              /* minute 60 */
        "19691231235959Z",              /* before 1970 */
        "",
    };
    size_t i;

    assert_accepted(DEC_AUTH_PACK,
                    auth_pack_with(der_int(1), OCTETS(x25519_pub, 32),
                                   HASH32, GTIME("20240229235959Z")));
    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_refused(DEC_AUTH_PACK,
                       auth_pack_with(der_int(1), OCTETS(x25519_pub, 32),
                                      HASH32, GTIME(bad[i])), 0);
        assert_refused(DEC_FRESHNESS,
                       SEQ(2, ctx_tag(0, GTIME(bad[i])),
                           ctx_tag(1, UTF8("a@R"))), 0);
    }
    /* UTCTime where GeneralizedTime belongs. */
    assert_refused(DEC_FRESHNESS,
                   SEQ(2, ctx_tag(0, der_tlv(0x17, raw("260101000000Z", 13))),
                       ctx_tag(1, UTF8("a@R"))), 0);
}
END_TEST

START_TEST(test_refuse_bad_utf8)
{
    static const char *const bad[] = {
        "\xc0\x80",                     /* overlong NUL */
        "\xc1\xbf",                     /* overlong */
        "\xe0\x80\xaf",                 /* overlong */
        "\xed\xa0\x80",                 /* surrogate */
        "\xf4\x90\x80\x80",             /* beyond U+10FFFF */
        "\xf8\x88\x80\x80\x80",         /* 5-byte form */
        "\x80",                         /* lone continuation */
        "ab\xc3",                       /* truncated */
        "\xe2\x9c",                     /* truncated */
        "\xff",
    };
    struct ks_devreg_message m;
    unsigned char *der = NULL;
    size_t len = 0, i;

    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_refused(DEC_MESSAGE,
                       ctx_tag(4, SEQ(2, ctx_tag(0, der_int(1)),
                                      ctx_tag(1, UTF8(bad[i])))),
                       ASN1_BAD_FORMAT);
        assert_refused(DEC_FRESHNESS,
                       SEQ(2, ctx_tag(0, TIME_OK), ctx_tag(1, UTF8(bad[i]))),
                       ASN1_BAD_FORMAT);
        /* And the encoders refuse to write them. */
        sample_message(KS_DEVREG_MSG_ERROR, &m);
        m.u.error.text = (char *)bad[i];
        ck_assert_int_eq(ks_devreg_message_encode(&m, &der, &len), EINVAL);
    }
    /* An embedded NUL. */
    assert_refused(DEC_MESSAGE,
                   ctx_tag(4, SEQ(2, ctx_tag(0, der_int(1)),
                                  ctx_tag(1, der_tlv(0x0c, raw("a\0b", 3))))),
                   ASN1_BAD_FORMAT);
    /* Empty client name. */
    assert_refused(DEC_FRESHNESS,
                   SEQ(2, ctx_tag(0, TIME_OK), ctx_tag(1, UTF8(""))),
                   ASN1_BAD_FORMAT);
    /* IA5String where UTF8String belongs. */
    assert_refused(DEC_FRESHNESS,
                   SEQ(2, ctx_tag(0, TIME_OK),
                       ctx_tag(1, der_tlv(0x16, raw("a@R", 3)))), 0);
}
END_TEST

START_TEST(test_refuse_ber)
{
    /* Non-minimal length of the outer tag and of an inner one. */
    assert_refused(DEC_MESSAGE,
                   cat(3, raw("\xa4\x81\x07", 3),
                       raw(error_code3_der + 2, sizeof(error_code3_der) - 2),
                       raw("", 0)), ASN1_BAD_FORMAT);
    assert_refused(DEC_MESSAGE,
                   raw("\xa4\x08\x30\x81\x05\xa0\x03\x02\x01\x03", 10),
                   ASN1_BAD_FORMAT);
    /* Indefinite lengths. */
    assert_refused(DEC_MESSAGE,
                   raw("\xa4\x80\x30\x05\xa0\x03\x02\x01\x03\x00\x00", 11),
                   0);
    assert_refused(DEC_MESSAGE,
                   raw("\xa4\x80\x30\x80\xa0\x03\x02\x01\x03\x00\x00\x00\x00",
                       13), 0);
    /* BOOLEAN TRUE as 0x01, and a two-byte BOOLEAN. */
    assert_refused(DEC_MESSAGE,
                   challenge_with(V1, TOK, GROUPS,
                                  ctx_tag(3, der_tlv(0x01, raw("\x01", 1)))),
                   ASN1_BAD_FORMAT);
    assert_refused(DEC_MESSAGE,
                   challenge_with(V1, TOK, GROUPS,
                                  ctx_tag(3, der_tlv(0x01,
                                                     raw("\xff\xff", 2)))),
                   0);
    assert_accepted(DEC_MESSAGE,
                    challenge_with(V1, TOK, GROUPS,
                                   ctx_tag(3, der_tlv(0x01, raw("\0", 1)))));
    /* INTEGER with a redundant leading byte. */
    assert_refused(DEC_MESSAGE,
                   challenge_with(ctx_tag(0, der_tlv(0x02, raw("\0\x01", 2))),
                                  TOK, GROUPS, ANON), 0);
    /* SEQUENCE with the primitive bit (0x10): OpenSSL's template decoder
     * reads "10 00" as an empty SEQUENCE OF; only the DER comparison
     * refuses it (found by fuzz_devreg_message with that check removed). */
    assert_refused(DEC_AUTHDATA, raw("\x10\x00", 2), ASN1_BAD_FORMAT);
    {
        unsigned char buf[sizeof(challenge_der)];

        memcpy(buf, challenge_der, sizeof(buf));
        buf[2] = 0x10;
        ck_assert_int_ne(try_decode(DEC_MESSAGE, buf, sizeof(buf)), 0);
    }
    /* Constructed OCTET STRING. */
    assert_refused(DEC_MESSAGE,
                   challenge_with(V1,
                                  ctx_tag(1, der_tlv(0x24, OCTETS("T", 1))),
                                  GROUPS, ANON), 0);
}
END_TEST

START_TEST(test_refuse_oversized)
{
    struct bytes big;
    struct ks_devreg_message m;
    unsigned char *der = NULL;
    size_t len = 0;

    /* One byte over each cap. */
    assert_refused(DEC_MESSAGE,
                   challenge_with(V1, ctx_tag(1, der_tlv(0x04,
                                      fill('t', KS_DEVREG_MAX_TOKEN + 1))),
                                  GROUPS, ANON), ASN1_BAD_FORMAT);
    assert_accepted(DEC_MESSAGE,
                    challenge_with(V1, ctx_tag(1, der_tlv(0x04,
                                       fill('t', KS_DEVREG_MAX_TOKEN))),
                                   GROUPS, ANON));
    assert_refused(DEC_MESSAGE,
                   ctx_tag(1, SEQ(3, V1, ctx_tag(1, der_int(1)),
                                  ctx_tag(2, der_tlv(0x04,
                                      fill('a', KS_DEVREG_MAX_CMS + 1))))),
                   ASN1_BAD_FORMAT);
    assert_refused(DEC_MESSAGE,
                   ctx_tag(2, SEQ(1, ctx_tag(0, der_tlv(0x04,
                                      fill('a', KS_DEVREG_MAX_CMS + 1))))),
                   ASN1_BAD_FORMAT);
    assert_refused(DEC_MESSAGE,
                   ctx_tag(3, SEQ(2, V1, ctx_tag(1, der_tlv(0x04,
                                      fill('a', KS_DEVREG_MAX_AP_REQ + 1))))),
                   ASN1_BAD_FORMAT);
    assert_refused(DEC_MESSAGE,
                   ctx_tag(4, SEQ(2, ctx_tag(0, der_int(1)),
                                  ctx_tag(1, der_tlv(0x0c,
                                      fill('x', KS_DEVREG_MAX_TEXT + 1))))),
                   ASN1_BAD_FORMAT);
    assert_refused(DEC_FRESHNESS,
                   SEQ(2, ctx_tag(0, TIME_OK),
                       ctx_tag(1, der_tlv(0x0c,
                           fill('c', KS_DEVREG_MAX_CLIENT + 1)))),
                   ASN1_BAD_FORMAT);
    /* Any input over KS_ASN1_MAX_INPUT. */
    big = ctx_tag(3, SEQ(2, V1, ctx_tag(1, der_tlv(0x04,
                                    fill('a', KS_ASN1_MAX_INPUT)))));
    ck_assert_int_eq(try_decode(DEC_MESSAGE, big.p, big.n), ASN1_BAD_LENGTH);
    free(big.p);

    /* The encoders refuse the same. */
    big = fill('t', KS_DEVREG_MAX_TOKEN + 1);
    sample_message(KS_DEVREG_MSG_CHALLENGE, &m);
    m.u.challenge.freshness_token = mkdata(big.p, big.n);
    ck_assert_int_eq(ks_devreg_message_encode(&m, &der, &len), EINVAL);
    free(big.p);
}
END_TEST

/* Every validator refuses in the encoder what the decoder refuses. */
START_TEST(test_encoders_refuse_invalid)
{
    struct ks_devreg_message m;
    struct ks_devreg_auth_pack ap;
    struct ks_devreg_dh_info dh;
    struct ks_freshness_plain fp;
    unsigned char *der = NULL;
    size_t len = 0;
    int32_t zero_group = 0;

    sample_message(KS_DEVREG_MSG_CHALLENGE, &m);
    m.u.challenge.ngroups = 0;
    ck_assert_int_eq(ks_devreg_message_encode(&m, &der, &len), EINVAL);
    m.u.challenge.ngroups = 1;
    m.u.challenge.groups = &zero_group;
    ck_assert_int_eq(ks_devreg_message_encode(&m, &der, &len), EINVAL);
    m.u.challenge.groups = NULL;
    ck_assert_int_eq(ks_devreg_message_encode(&m, &der, &len), EINVAL);
    /* An empty token encodes (the KDC refuses it as missing). */
    sample_message(KS_DEVREG_MSG_CHALLENGE, &m);
    m.u.challenge.freshness_token.length = 0;
    ck_assert_int_eq(ks_devreg_message_encode(&m, &der, &len), 0);
    free(der);
    der = NULL;

    sample_message(KS_DEVREG_MSG_REGISTER, &m);
    m.u.reg.mode = 3;
    ck_assert_int_eq(ks_devreg_message_encode(&m, &der, &len), EINVAL);
    sample_message(KS_DEVREG_MSG_LOGIN, &m);
    m.u.login.ap_req.length = 0;
    ck_assert_int_eq(ks_devreg_message_encode(&m, &der, &len), EINVAL);
    sample_message(KS_DEVREG_MSG_REPLY, &m);
    m.u.reply.signed_dh_info.data = NULL;
    ck_assert_int_eq(ks_devreg_message_encode(&m, &der, &len), EINVAL);
    m.type = (enum ks_devreg_msg_type)5;
    ck_assert_int_eq(ks_devreg_message_encode(&m, &der, &len), EINVAL);

    sample_auth_pack(KS_DEVREG_GROUP_X25519, &ap);
    ap.group = KS_DEVREG_GROUP_P256;
    ck_assert_int_eq(ks_devreg_auth_pack_encode(&ap, &der, &len), EINVAL);
    sample_auth_pack(KS_DEVREG_GROUP_X25519, &ap);
    ap.ctime = -1;
    ck_assert_int_eq(ks_devreg_auth_pack_encode(&ap, &der, &len), EINVAL);
    ap.ctime = (time_t)253402300800LL;
    ck_assert_int_eq(ks_devreg_auth_pack_encode(&ap, &der, &len), EINVAL);

    memset(&dh, 0, sizeof(dh));
    dh.group = 9;
    dh.kdc_public = mkdata(x25519_pub, sizeof(x25519_pub));
    ck_assert_int_eq(ks_devreg_dh_info_encode(&dh, &der, &len), EINVAL);

    fp.kdc_time = 1767225600;
    fp.client = (char *)"";
    ck_assert_int_eq(ks_freshness_plain_encode(&fp, &der, &len), EINVAL);
    fp.client = NULL;
    ck_assert_int_eq(ks_freshness_plain_encode(&fp, &der, &len), EINVAL);
    ck_assert_ptr_null(der);
}
END_TEST

/* The encoders stop at the same caps as the decoders: the cap passes, one
 * more is EINVAL. */
START_TEST(test_encoders_refuse_oversized)
{
    struct ks_devreg_message m;
    struct ks_freshness_plain fp;
    int32_t groups[KS_DEVREG_MAX_GROUPS + 1];
    struct bytes big = fill('b', KS_DEVREG_MAX_CMS + 1);
    unsigned char *der = NULL;
    size_t len = 0, i;
    char *text;

    for (i = 0; i <= KS_DEVREG_MAX_GROUPS; i++)
        groups[i] = 1;
    sample_message(KS_DEVREG_MSG_CHALLENGE, &m);
    m.u.challenge.groups = groups;
    m.u.challenge.ngroups = KS_DEVREG_MAX_GROUPS + 1;
    ck_assert_int_eq(ks_devreg_message_encode(&m, &der, &len), EINVAL);

    sample_message(KS_DEVREG_MSG_REGISTER, &m);
    m.u.reg.auth_pack = mkdata(big.p, KS_DEVREG_MAX_CMS);
    free(message_round_trip(&m).p);
    m.u.reg.auth_pack = mkdata(big.p, KS_DEVREG_MAX_CMS + 1);
    ck_assert_int_eq(ks_devreg_message_encode(&m, &der, &len), EINVAL);
    sample_message(KS_DEVREG_MSG_REPLY, &m);
    m.u.reply.signed_dh_info = mkdata(big.p, KS_DEVREG_MAX_CMS + 1);
    ck_assert_int_eq(ks_devreg_message_encode(&m, &der, &len), EINVAL);
    sample_message(KS_DEVREG_MSG_LOGIN, &m);
    m.u.login.ap_req = mkdata(big.p, KS_DEVREG_MAX_AP_REQ);
    free(message_round_trip(&m).p);
    m.u.login.ap_req = mkdata(big.p, KS_DEVREG_MAX_AP_REQ + 1);
    ck_assert_int_eq(ks_devreg_message_encode(&m, &der, &len), EINVAL);

    /* big.p holds more than either text cap; cut it with a NUL. */
    text = (char *)big.p;
    text[KS_DEVREG_MAX_TEXT + 1] = '\0';
    sample_message(KS_DEVREG_MSG_ERROR, &m);
    m.u.error.text = text;
    ck_assert_int_eq(ks_devreg_message_encode(&m, &der, &len), EINVAL);
    memset(text, 'c', KS_DEVREG_MAX_CLIENT + 1);
    text[KS_DEVREG_MAX_CLIENT + 1] = '\0';
    fp.kdc_time = 1767225600;
    fp.client = text;
    ck_assert_int_eq(ks_freshness_plain_encode(&fp, &der, &len), EINVAL);
    text[KS_DEVREG_MAX_CLIENT] = '\0';
    ck_assert_int_eq(ks_freshness_plain_encode(&fp, &der, &len), 0);
    free(der);
    free(big.p);
}
END_TEST

START_TEST(test_error_messages)
{
    const char *unknown = ks_devreg_error_message(0);
    const char *msgs[KS_DEVREG_E_MAX + 1];
    int i, j;

    ck_assert_str_eq(unknown, "unknown devreg error code");
    ck_assert_str_eq(ks_devreg_error_message(KS_DEVREG_E_MAX + 1), unknown);
    ck_assert_str_eq(ks_devreg_error_message(-1), unknown);
    for (i = 1; i <= KS_DEVREG_E_MAX; i++) {
        msgs[i] = ks_devreg_error_message(i);
        ck_assert_str_ne(msgs[i], unknown);
        for (j = 1; j < i; j++)
            ck_assert_str_ne(msgs[i], msgs[j]);
    }
}
END_TEST

/* ---- auth indicators in ticket authorization data ----------------------- */

/* A malloc'ed krb5_authdata of type t holding b (consumed). */
static krb5_authdata *
mkad(krb5_authdatatype t, struct bytes b)
{
    krb5_authdata *ad = calloc(1, sizeof(*ad));

    ck_assert_ptr_nonnull(ad);
    ad->magic = KV5M_AUTHDATA;
    ad->ad_type = t;
    ad->contents = b.p;
    ad->length = b.n;
    return ad;
}

/* DER AD-AUTH-INDICATOR of a NULL-terminated list. */
static struct bytes
indicators(char *const *list)
{
    struct bytes b;

    ck_assert_int_eq(ks_auth_indicator_encode(list, &b.p, &b.n), 0);
    return b;
}

/* DER AuthorizationData of count elements (consumed). */
static struct bytes
authdata(int count, ...)
{
    krb5_authdata *list[16];
    struct bytes b;
    va_list ap;
    int i;

    ck_assert_int_lt(count, 16);
    va_start(ap, count);
    for (i = 0; i < count; i++)
        list[i] = va_arg(ap, krb5_authdata *);
    list[count] = NULL;
    va_end(ap);
    ck_assert_int_eq(ks_authdata_encode(list, &b.p, &b.n), 0);
    for (i = 0; i < count; i++) {
        free(list[i]->contents);
        free(list[i]);
    }
    return b;
}

/* DER AD-CAMMAC (no verifiers) of count elements (consumed). */
static struct bytes
cammac(int count, ...)
{
    krb5_authdata *list[16];
    struct bytes b;
    va_list ap;
    int i;

    ck_assert_int_lt(count, 16);
    va_start(ap, count);
    for (i = 0; i < count; i++)
        list[i] = va_arg(ap, krb5_authdata *);
    list[count] = NULL;
    va_end(ap);
    ck_assert_int_eq(ks_cammac_encode(list, &b.p, &b.n), 0);
    for (i = 0; i < count; i++) {
        free(list[i]->contents);
        free(list[i]);
    }
    return b;
}

/* Run ks_authdata_indicators over a NULL-terminated list of count elements
 * (consumed) and return its code; *out gets the list (or NULL). */
static krb5_error_code
find_indicators(char ***out, int count, ...)
{
    krb5_authdata *list[16];
    krb5_error_code ret;
    va_list ap;
    int i;

    ck_assert_int_lt(count, 16);
    va_start(ap, count);
    for (i = 0; i < count; i++)
        list[i] = va_arg(ap, krb5_authdata *);
    list[count] = NULL;
    va_end(ap);
    *out = NULL;
    ret = ks_authdata_indicators(ctx, list, out);
    for (i = 0; i < count; i++) {
        free(list[i]->contents);
        free(list[i]);
    }
    return ret;
}

/* Assert that list holds exactly the count strings given. */
static void
assert_strings(char **list, int count, ...)
{
    va_list ap;
    int i;

    ck_assert_ptr_nonnull(list);
    va_start(ap, count);
    for (i = 0; i < count; i++) {
        ck_assert_ptr_nonnull(list[i]);
        ck_assert_str_eq(list[i], va_arg(ap, const char *));
    }
    va_end(ap);
    ck_assert_ptr_null(list[count]);
}

START_TEST(test_indicators_found)
{
    char *staged[] = { (char *)KS_INDICATOR_STAGED, (char *)"profile-cm",
                       NULL };
    char *prov[] = { (char *)KS_INDICATOR_PROVISIONED, NULL };
    char *empty[] = { NULL };
    char **out = NULL;

    /* The MIT layout: IF-RELEVANT { CAMMAC { elements { AUTH-INDICATOR }}},
     * with other authorization data around it at each level. */
    ck_assert_int_eq(find_indicators(
        &out, 3,
        mkad(128, raw("\x01\x02", 2)),
        mkad(KS_AD_IF_RELEVANT,
             authdata(2, mkad(513, raw("x", 1)),
                      mkad(KS_AD_CAMMAC,
                           cammac(3, mkad(1, raw("\x30\x00", 2)),
                                  mkad(KS_AD_AUTH_INDICATOR,
                                       indicators(staged)),
                                  mkad(-5, raw("", 0)))))),
        mkad(KS_AD_AUTH_INDICATOR, indicators(prov))), 0);
    assert_strings(out, 2, KS_INDICATOR_STAGED, "profile-cm");
    ks_free_indicators(out);

    /* Several IF-RELEVANTs, CAMMACs and indicator elements, in order; an
     * empty indicator list adds nothing. */
    ck_assert_int_eq(find_indicators(
        &out, 2,
        mkad(KS_AD_IF_RELEVANT,
             authdata(2,
                      mkad(KS_AD_CAMMAC,
                           cammac(2, mkad(KS_AD_AUTH_INDICATOR,
                                          indicators(prov)),
                                  mkad(KS_AD_AUTH_INDICATOR,
                                       indicators(empty)))),
                      mkad(KS_AD_CAMMAC,
                           cammac(1, mkad(KS_AD_AUTH_INDICATOR,
                                          indicators(staged)))))),
        mkad(KS_AD_IF_RELEVANT,
             authdata(1, mkad(KS_AD_CAMMAC,
                              cammac(1, mkad(KS_AD_AUTH_INDICATOR,
                                             indicators(prov))))))), 0);
    assert_strings(out, 4, KS_INDICATOR_PROVISIONED, KS_INDICATOR_STAGED,
                   "profile-cm", KS_INDICATOR_PROVISIONED);
    ks_free_indicators(out);
}
END_TEST

START_TEST(test_indicators_only_in_place)
{
    char *staged[] = { (char *)KS_INDICATOR_STAGED, NULL };
    char **out = NULL;

    /* None at all: NULL list, empty list. */
    ck_assert_int_eq(ks_authdata_indicators(ctx, NULL, &out), 0);
    assert_strings(out, 0);
    ks_free_indicators(out);
    ck_assert_int_eq(find_indicators(&out, 0), 0);
    assert_strings(out, 0);
    ks_free_indicators(out);

    /* A CAMMAC outside IF-RELEVANT, an indicator element outside a
     * CAMMAC, and a CAMMAC nested in a CAMMAC are not looked at. */
    ck_assert_int_eq(find_indicators(
        &out, 3,
        mkad(KS_AD_CAMMAC,
             cammac(1, mkad(KS_AD_AUTH_INDICATOR, indicators(staged)))),
        mkad(KS_AD_IF_RELEVANT,
             authdata(1, mkad(KS_AD_AUTH_INDICATOR, indicators(staged)))),
        mkad(KS_AD_IF_RELEVANT,
             authdata(1, mkad(KS_AD_CAMMAC,
                              cammac(1, mkad(KS_AD_CAMMAC,
                                             cammac(1,
                                                 mkad(KS_AD_AUTH_INDICATOR,
                                                      indicators(staged))))))
                      ))), 0);
    assert_strings(out, 0);
    ks_free_indicators(out);

    /* Garbage in authorization data types we do not read is ignored. */
    ck_assert_int_eq(find_indicators(&out, 1, mkad(96 + 1000,
                                                   raw("\xff", 1))), 0);
    assert_strings(out, 0);
    ks_free_indicators(out);
}
END_TEST

/* A CAMMAC with kdc-verifier, svc-verifier and other-verifiers present, as
 * MIT's KDC writes them (RFC 7751 Verifier-MAC { identifier [0],
 * kvno [1], enctype [2], mac [3] Checksum }). */
static struct bytes
cammac_with_verifiers(struct bytes elements)
{
    struct bytes mac = SEQ(2, ctx_tag(0, der_int(16)),
                           ctx_tag(1, der_tlv(0x04, fill(0xcc, 12))));
    struct bytes ident = SEQ(2, ctx_tag(0, der_int(2)),
                             ctx_tag(1, SEQ(2, der_tlv(0x1b, raw("krbtgt", 6)),
                                            der_tlv(0x1b, raw("R", 1)))));
    struct bytes kdc_verifier = SEQ(4, ctx_tag(0, ident),
                                    ctx_tag(1, der_int(3)),
                                    ctx_tag(2, der_int(18)), ctx_tag(3, mac));
    struct bytes svc_verifier = SEQ(1, ctx_tag(3,
        SEQ(2, ctx_tag(0, der_int(16)),
            ctx_tag(1, der_tlv(0x04, fill(0xdd, 12))))));
    struct bytes other = SEQ(1, ctx_tag(0, SEQ(1, ctx_tag(3,
        SEQ(2, ctx_tag(0, der_int(16)),
            ctx_tag(1, der_tlv(0x04, fill(0xee, 12))))))));

    return SEQ(4, ctx_tag(0, elements), ctx_tag(1, kdc_verifier),
               ctx_tag(2, svc_verifier), ctx_tag(3, other));
}

START_TEST(test_indicators_with_verifiers)
{
    char *staged[] = { (char *)KS_INDICATOR_STAGED, NULL };
    char **out = NULL;

    ck_assert_int_eq(find_indicators(
        &out, 1,
        mkad(KS_AD_IF_RELEVANT,
             authdata(1, mkad(KS_AD_CAMMAC,
                              cammac_with_verifiers(
                                  authdata(1, mkad(KS_AD_AUTH_INDICATOR,
                                                   indicators(staged)))))))),
        0);
    assert_strings(out, 1, KS_INDICATOR_STAGED);
    ks_free_indicators(out);
}
END_TEST

START_TEST(test_indicators_malformed)
{
    char *staged[] = { (char *)KS_INDICATOR_STAGED, NULL };
    char *many[KS_MAX_INDICATORS + 2], *longest[2], *one[] = { (char *)"i",
                                                                NULL };
    struct bytes elements;
    char **out = (char **)&out;
    int i;

    /* Undecodable IF-RELEVANT, CAMMAC, indicator; empty contents. */
    ck_assert_int_ne(find_indicators(&out, 1, mkad(KS_AD_IF_RELEVANT,
                                                   raw("\x30\x05", 2))), 0);
    ck_assert_ptr_null(out);
    ck_assert_int_ne(find_indicators(&out, 1, mkad(KS_AD_IF_RELEVANT,
                                                   raw("", 0))), 0);
    ck_assert_int_ne(find_indicators(
        &out, 1, mkad(KS_AD_IF_RELEVANT,
                      authdata(1, mkad(KS_AD_CAMMAC, raw("\x30\x00", 2))))),
        0);
    ck_assert_int_ne(find_indicators(
        &out, 1, mkad(KS_AD_IF_RELEVANT,
                      authdata(1, mkad(KS_AD_CAMMAC,
                                       cammac(1, mkad(KS_AD_AUTH_INDICATOR,
                                                      raw("\x0c\x01x",
                                                          3))))))), 0);
    /* Indicators with bad UTF-8, a NUL, an IA5String. */
    ck_assert_int_ne(find_indicators(
        &out, 1, mkad(KS_AD_IF_RELEVANT,
                      authdata(1, mkad(KS_AD_CAMMAC,
                                       cammac(1, mkad(KS_AD_AUTH_INDICATOR,
                                           SEQ(1, der_tlv(0x0c,
                                               raw("\xc0\x80", 2)))))))))
        , 0);
    ck_assert_int_ne(find_indicators(
        &out, 1, mkad(KS_AD_IF_RELEVANT,
                      authdata(1, mkad(KS_AD_CAMMAC,
                                       cammac(1, mkad(KS_AD_AUTH_INDICATOR,
                                           SEQ(1, der_tlv(0x0c,
                                               raw("a\0", 2)))))))))
        , 0);
    ck_assert_int_ne(find_indicators(
        &out, 1, mkad(KS_AD_IF_RELEVANT,
                      authdata(1, mkad(KS_AD_CAMMAC,
                                       cammac(1, mkad(KS_AD_AUTH_INDICATOR,
                                           SEQ(1, der_tlv(0x16,
                                               raw("a", 1)))))))))
        , 0);
    /* Trailing bytes after a CAMMAC. */
    elements = cammac(1, mkad(KS_AD_AUTH_INDICATOR, indicators(staged)));
    ck_assert_int_ne(find_indicators(
        &out, 1, mkad(KS_AD_IF_RELEVANT,
                      authdata(1, mkad(KS_AD_CAMMAC,
                                       cat(2, elements, raw("\0", 1)))))),
        0);
    /* A CAMMAC whose elements are missing. */
    ck_assert_int_ne(find_indicators(
        &out, 1, mkad(KS_AD_IF_RELEVANT,
                      authdata(1, mkad(KS_AD_CAMMAC,
                                       SEQ(1, ctx_tag(1, SEQ(0))))))), 0);

    /* The caps: KS_MAX_INDICATORS pass, one more fails; the longest
     * indicator passes, one byte more fails. */
    for (i = 0; i < KS_MAX_INDICATORS; i++)
        many[i] = one[0];
    many[KS_MAX_INDICATORS] = NULL;
    ck_assert_int_eq(find_indicators(
        &out, 1, mkad(KS_AD_IF_RELEVANT,
                      authdata(1, mkad(KS_AD_CAMMAC,
                                       cammac(1, mkad(KS_AD_AUTH_INDICATOR,
                                                      indicators(many))))))),
        0);
    ks_free_indicators(out);
    ck_assert_int_eq(find_indicators(
        &out, 1, mkad(KS_AD_IF_RELEVANT,
                      authdata(1, mkad(KS_AD_CAMMAC,
                                       cammac(2, mkad(KS_AD_AUTH_INDICATOR,
                                                      indicators(many)),
                                              mkad(KS_AD_AUTH_INDICATOR,
                                                   indicators(one))))))),
        ASN1_OVERFLOW);
    ck_assert_ptr_null(out);
    longest[0] = malloc(KS_MAX_INDICATOR_LEN + 2);
    ck_assert_ptr_nonnull(longest[0]);
    memset(longest[0], 'l', KS_MAX_INDICATOR_LEN);
    longest[0][KS_MAX_INDICATOR_LEN] = '\0';
    longest[1] = NULL;
    ck_assert_int_eq(find_indicators(
        &out, 1, mkad(KS_AD_IF_RELEVANT,
                      authdata(1, mkad(KS_AD_CAMMAC,
                                       cammac(1, mkad(KS_AD_AUTH_INDICATOR,
                                                      indicators(longest))))
                               ))), 0);
    ck_assert_uint_eq(strlen(out[0]), KS_MAX_INDICATOR_LEN);
    ks_free_indicators(out);
    ck_assert_int_eq(find_indicators(
        &out, 1, mkad(KS_AD_IF_RELEVANT,
                      authdata(1, mkad(KS_AD_CAMMAC,
                                       cammac(1, mkad(KS_AD_AUTH_INDICATOR,
                                           SEQ(1, der_tlv(0x0c,
                                               fill('l',
                                                    KS_MAX_INDICATOR_LEN +
                                                    1)))))))))
        , ASN1_BAD_FORMAT);
    /* And the encoder refuses to write one that long. */
    longest[0][KS_MAX_INDICATOR_LEN] = 'l';
    longest[0][KS_MAX_INDICATOR_LEN + 1] = '\0';
    {
        unsigned char *der = NULL;
        size_t len = 0;

        ck_assert_int_eq(ks_auth_indicator_encode(longest, &der, &len),
                         EINVAL);
    }
    free(longest[0]);
}
END_TEST

/*
 * The authorization data of a real service ticket: MIT krb5kdc 1.20.1
 * (Debian 1.20.1-2+deb12u5, db2 realm REAL.TEST) issued host/svc.real.test
 * a ticket for user@REAL.TEST after SPAKE preauthentication with
 * spake_preauth_indicator = devreg-staged and = profile-cm in kdc.conf;
 * the ticket was decrypted with the service keytab
 * (krb5_server_decrypt_ticket_keytab) and its enc-part authorization data
 * dumped.  Two AD-IF-RELEVANT elements: the first holds MIT's AD-WIN2K-PAC
 * (128), the second an AD-CAMMAC with kdc-verifier and svc-verifier whose
 * elements hold one AD-AUTH-INDICATOR.
 */
static const unsigned char real_ticket_ifrel_pac[] = {
    0x30, 0x81, 0x9f, 0x30, 0x81, 0x9c, 0xa0, 0x04, 0x02, 0x02, 0x00, 0x80,
    0xa1, 0x81, 0x93, 0x04, 0x81, 0x90, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, 0x48, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x10, 0x00,
    0x00, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00,
    0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x80, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x70, 0xfd, 0x01, 0xbe, 0x7c,
    0xdd, 0x01, 0x08, 0x00, 0x75, 0x00, 0x73, 0x00, 0x65, 0x00, 0x72, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x44, 0x43,
    0x89, 0xce, 0x29, 0xa5, 0xba, 0xcf, 0x83, 0xba, 0x76, 0xba, 0x10, 0x00,
    0x00, 0x00, 0x15, 0xab, 0x35, 0x62, 0x46, 0x08, 0x83, 0x9e, 0xec, 0x48,
    0x76, 0x3a, 0x10, 0x00, 0x00, 0x00, 0x84, 0x91, 0xad, 0x9b, 0x53, 0xee,
    0xdc, 0x74, 0x8a, 0xc7, 0xf2, 0x5a,
};
static const unsigned char real_ticket_ifrel_cammac[] = {
    0x30, 0x78, 0x30, 0x76, 0xa0, 0x03, 0x02, 0x01, 0x60, 0xa1, 0x6f, 0x04,
    0x6d, 0x30, 0x6b, 0xa0, 0x2a, 0x30, 0x28, 0x30, 0x26, 0xa0, 0x03, 0x02,
    0x01, 0x61, 0xa1, 0x1f, 0x04, 0x1d, 0x30, 0x1b, 0x0c, 0x0d, 0x64, 0x65,
    0x76, 0x72, 0x65, 0x67, 0x2d, 0x73, 0x74, 0x61, 0x67, 0x65, 0x64, 0x0c,
    0x0a, 0x70, 0x72, 0x6f, 0x66, 0x69, 0x6c, 0x65, 0x2d, 0x63, 0x6d, 0xa1,
    0x20, 0x30, 0x1e, 0xa1, 0x03, 0x02, 0x01, 0x01, 0xa3, 0x17, 0x30, 0x15,
    0xa0, 0x03, 0x02, 0x01, 0x10, 0xa1, 0x0e, 0x04, 0x0c, 0x76, 0x0f, 0xdf,
    0x47, 0x36, 0x9b, 0xe6, 0xdf, 0x9c, 0x62, 0x5e, 0x3a, 0xa2, 0x1b, 0x30,
    0x19, 0xa3, 0x17, 0x30, 0x15, 0xa0, 0x03, 0x02, 0x01, 0x10, 0xa1, 0x0e,
    0x04, 0x0c, 0x3b, 0x80, 0x3d, 0x9b, 0x42, 0x82, 0xc5, 0x35, 0x94, 0x3a,
    0x71, 0xbd,
};

START_TEST(test_indicators_real_ticket)
{
    krb5_authdata pac = { KV5M_AUTHDATA, KS_AD_IF_RELEVANT,
                          sizeof(real_ticket_ifrel_pac),
                          (krb5_octet *)real_ticket_ifrel_pac };
    krb5_authdata cm = { KV5M_AUTHDATA, KS_AD_IF_RELEVANT,
                         sizeof(real_ticket_ifrel_cammac),
                         (krb5_octet *)real_ticket_ifrel_cammac };
    krb5_authdata *list[] = { &pac, &cm, NULL };
    unsigned char buf[sizeof(real_ticket_ifrel_cammac)];
    char **out = NULL;
    size_t i;

    ck_assert_int_eq(ks_authdata_indicators(ctx, list, &out), 0);
    assert_strings(out, 2, KS_INDICATOR_STAGED, "profile-cm");
    ks_free_indicators(out);

    /* MIT's AuthorizationData encodings are ours byte for byte. */
    assert_strict(DEC_AUTHDATA, real_ticket_ifrel_pac,
                  sizeof(real_ticket_ifrel_pac));
    assert_strict(DEC_AUTHDATA, real_ticket_ifrel_cammac,
                  sizeof(real_ticket_ifrel_cammac));

    /* Any truncation of the CAMMAC's container is an error. */
    for (i = 0; i < sizeof(buf); i++) {
        memcpy(buf, real_ticket_ifrel_cammac, i);
        cm.contents = buf;
        cm.length = i;
        out = NULL;
        ck_assert_int_ne(ks_authdata_indicators(ctx, list, &out), 0);
        ck_assert_ptr_null(out);
    }
}
END_TEST


/* Freshness token framing: byte-exact layout, round trip, refusals. */
START_TEST(test_freshness_token_layout)
{
    static const unsigned char ct[] = { 0xde, 0xad, 0xbe, 0xef, 0x01 };
    static const unsigned char expect[] = {
        0x00, 0x00, 0x01, 0x02,             /* kvno 258 */
        0xff, 0xff, 0xff, 0xfe,             /* enctype -2 */
        0xde, 0xad, 0xbe, 0xef, 0x01
    };
    struct ks_freshness_token tok;
    krb5_data d;

    ck_assert_int_eq(ks_freshness_token_build(258, -2, ct, sizeof(ct), &d),
                     0);
    ck_assert_uint_eq(d.length, sizeof(expect));
    ck_assert(memcmp(d.data, expect, sizeof(expect)) == 0);
    ck_assert_int_eq(ks_freshness_token_parse((unsigned char *)d.data,
                                              d.length, &tok), 0);
    ck_assert_uint_eq(tok.kvno, 258);
    ck_assert_int_eq(tok.enctype, -2);
    ck_assert_uint_eq(tok.ciphertext_len, sizeof(ct));
    ck_assert(tok.ciphertext == (unsigned char *)d.data + 8);
    free(d.data);
}
END_TEST

START_TEST(test_freshness_token_refused)
{
    unsigned char buf[8 + KS_FRESHNESS_MAX_CIPHERTEXT + 1];
    struct ks_freshness_token tok;
    krb5_data d;
    size_t len;

    memset(buf, 0x41, sizeof(buf));
    /* Too short for the header, or no ciphertext at all. */
    for (len = 0; len <= 8; len++)
        ck_assert_int_eq(ks_freshness_token_parse(buf, len, &tok), EINVAL);
    ck_assert_int_eq(ks_freshness_token_parse(NULL, 20, &tok), EINVAL);
    /* The largest ciphertext, and one byte more. */
    ck_assert_int_eq(ks_freshness_token_parse(buf, sizeof(buf) - 1, &tok),
                     0);
    ck_assert_int_eq(ks_freshness_token_parse(buf, sizeof(buf), &tok),
                     EINVAL);
    /* kvno 0 names no key. */
    memset(buf, 0, 4);
    ck_assert_int_eq(ks_freshness_token_parse(buf, 20, &tok), EINVAL);
    ck_assert_uint_eq(tok.kvno, 0);
    ck_assert(tok.ciphertext == NULL);
    /* The builder refuses what the parser would. */
    ck_assert_int_eq(ks_freshness_token_build(0, 18, buf, 4, &d), EINVAL);
    ck_assert_int_eq(ks_freshness_token_build(1, 18, buf, 0, &d), EINVAL);
    ck_assert_int_eq(ks_freshness_token_build(1, 18, buf,
                                              KS_FRESHNESS_MAX_CIPHERTEXT + 1,
                                              &d), EINVAL);
}
END_TEST

static Suite *
asn1_suite(void)
{
    Suite *s = suite_create("asn1");
    TCase *tc;

    tc = tcase_create("exact");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_exact_der_messages);
    tcase_add_test(tc, test_exact_der_other_types);
    suite_add_tcase(s, tc);

    tc = tcase_create("round_trip");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_message_round_trip, KS_DEVREG_MSG_CHALLENGE,
                        KS_DEVREG_MSG_ERROR + 1);
    tcase_add_test(tc, test_message_variants);
    tcase_add_loop_test(tc, test_auth_pack_round_trip, 0, 2);
    tcase_add_loop_test(tc, test_dh_info_round_trip, 0, 2);
    tcase_add_test(tc, test_freshness_round_trip);
    tcase_add_test(tc, test_principal_round_trip);
    tcase_add_test(tc, test_authdata_round_trip);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("refuse");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_refuse_wrong_tags_and_choice);
    tcase_add_test(tc, test_refuse_missing_fields);
    tcase_add_test(tc, test_refuse_bad_versions_and_ranges);
    tcase_add_test(tc, test_refuse_groups_and_keys);
    tcase_add_test(tc, test_refuse_times);
    tcase_add_test(tc, test_refuse_bad_utf8);
    tcase_add_test(tc, test_refuse_ber);
    tcase_add_test(tc, test_refuse_oversized);
    tcase_add_test(tc, test_principal_refused);
    tcase_add_test(tc, test_encoders_refuse_invalid);
    tcase_add_test(tc, test_encoders_refuse_oversized);
    tcase_add_test(tc, test_error_messages);
    suite_add_tcase(s, tc);

    tc = tcase_create("indicators");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_indicators_found);
    tcase_add_test(tc, test_indicators_only_in_place);
    tcase_add_test(tc, test_indicators_with_verifiers);
    tcase_add_test(tc, test_indicators_malformed);
    tcase_add_test(tc, test_indicators_real_ticket);
    suite_add_tcase(s, tc);

    tc = tcase_create("freshness token");
    tcase_add_test(tc, test_freshness_token_layout);
    tcase_add_test(tc, test_freshness_token_refused);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return unit_run(asn1_suite());
}
