/*
 * Unit tests of the KINK message codec (kink/kink_msg.h).
 *
 * The vectors below are written by hand from the diagrams of RFC 4430
 * section 4 (header: Type, MjVer|RESRVED, Length, DOI, XID, NextPayload,
 * A|RESERVED, CksumLen) and 4.2 (payloads: Next Payload, RESERVED,
 * Payload Length counting the 4-octet payload header but not the padding,
 * then the body), one comment per field, so the tests do not just compare
 * the encoder with itself.  Kerberos and ISAKMP contents are stand-in
 * octets: this codec carries them opaquely.  Then round trips, the
 * refusals, and the checksum input fed to krb5_c_*_checksum_iov against a
 * checksum computed over a contiguous copy.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <krb5/krb5.h>

#include "kink_keymat.h"
#include "kink_msg.h"
#include "unit_util.h"

/* CREATE: KINK_AP_REQ + KINK_ISAKMP + 12-octet checksum. */
static const uint8_t v_create[] = {
    /* header */
    0x01,                               /* Type CREATE */
    0x10,                               /* MjVer 1, RESRVED 0 */
    0x00, 0x3c,                         /* Length 60 */
    0x00, 0x00, 0x00, 0x01,             /* DOI 1 (IPsec) */
    0x12, 0x34, 0x56, 0x78,             /* XID */
    0x01,                               /* NextPayload KINK_AP_REQ */
    0x00,                               /* A 0, RESERVED 0 */
    0x00, 0x0c,                         /* CksumLen 12 */
    /* KINK_AP_REQ at 16 */
    0x06,                               /* Next Payload KINK_ISAKMP */
    0x00,                               /* RESERVED */
    0x00, 0x0d,                         /* Payload Length 4 + 4 + 5 */
    0x00, 0x00, 0x00, 0x2a,             /* EPOCH 42 */
    0x6e, 0x03, 0x01, 0x02, 0x03,       /* AP-REQ (stand-in) */
    0x00, 0x00, 0x00,                   /* padding to 32 */
    /* KINK_ISAKMP at 32 */
    0x00,                               /* Next Payload KINK_DONE */
    0x00,                               /* RESERVED */
    0x00, 0x0e,                         /* Payload Length 4 + 4 + 6 */
    0x0a,                               /* InnerNextPload 10 (Nonce) */
    0x10,                               /* QMMaj 1, QMMin 0 */
    0x00, 0x00,                         /* RESERVED */
    0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, /* ISAKMP payloads (stand-in) */
    0x00, 0x00,                         /* padding to 48 */
    /* Cksum at 48 */
    0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
    0xc8, 0xc9, 0xca, 0xcb
};

/* REPLY with the A flag: KINK_AP_REP + KINK_ISAKMP, 16-octet checksum;
 * both bodies end on a 4-octet boundary, so no padding. */
static const uint8_t v_reply[] = {
    0x03,                               /* Type REPLY */
    0x10,                               /* MjVer 1 */
    0x00, 0x3c,                         /* Length 60 */
    0x00, 0x00, 0x00, 0x01,             /* DOI 1 */
    0x00, 0x00, 0x00, 0x01,             /* XID 1 */
    0x02,                               /* NextPayload KINK_AP_REP */
    0x80,                               /* A (ACKREQ) 1 */
    0x00, 0x10,                         /* CksumLen 16 */
    /* KINK_AP_REP at 16 */
    0x06, 0x00, 0x00, 0x0c,             /* next ISAKMP, length 4 + 4 + 4 */
    0x00, 0x00, 0x00, 0x07,             /* EPOCH 7 */
    0x6f, 0x02, 0xaa, 0xbb,             /* AP-REP (stand-in) */
    /* KINK_ISAKMP at 28 */
    0x00, 0x00, 0x00, 0x10,             /* next DONE, length 4 + 4 + 8 */
    0x01,                               /* InnerNextPload 1 (SA) */
    0x10,                               /* QM 1.0 */
    0x00, 0x00,                         /* RESERVED */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    /* Cksum at 44 */
    0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7,
    0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf
};

/* GETTGT: KINK_TGT_REQ, unauthenticated (no checksum). */
static const uint8_t v_gettgt[] = {
    0x04,                               /* Type GETTGT */
    0x10,                               /* MjVer 1 */
    0x00, 0x24,                         /* Length 36 */
    0x00, 0x00, 0x00, 0x01,             /* DOI 1 */
    0x00, 0x00, 0x00, 0x02,             /* XID 2 */
    0x04,                               /* NextPayload KINK_TGT_REQ */
    0x00,                               /* A 0 */
    0x00, 0x00,                         /* CksumLen 0 */
    /* KINK_TGT_REQ at 16 */
    0x00, 0x00, 0x00, 0x11,             /* next DONE, length 4 + 2 + 11 */
    0x00, 0x0b,                         /* PrincName length 11 */
    'd', 'e', 'v', 'i', 'c', 'e', '/', 'b', '@', 'E', 'X',
    0x00, 0x00, 0x00                    /* padding to 36 */
};

/* REPLY to GETTGT: KINK_TGT_REP, no checksum. */
static const uint8_t v_tgtrep[] = {
    0x03, 0x10, 0x00, 0x1c,             /* REPLY, MjVer 1, Length 28 */
    0x00, 0x00, 0x00, 0x01,             /* DOI 1 */
    0x00, 0x00, 0x00, 0x02,             /* XID 2 */
    0x05, 0x00, 0x00, 0x00,             /* NextPayload KINK_TGT_REP, A 0,
                                         * CksumLen 0 */
    /* KINK_TGT_REP at 16 */
    0x00, 0x00, 0x00, 0x0b,             /* next DONE, length 4 + 7 */
    0x61, 0x05, 0x30, 0x03, 0x02, 0x01, 0x05, /* TGT (stand-in) */
    0x00                                /* padding to 28 */
};

/* REPLY carrying KINK_ERROR KINK_PROTOERR, no checksum. */
static const uint8_t v_error[] = {
    0x03, 0x10, 0x00, 0x18,             /* REPLY, MjVer 1, Length 24 */
    0x00, 0x00, 0x00, 0x01,             /* DOI 1 */
    0xde, 0xad, 0xbe, 0xef,             /* XID */
    0x08, 0x00, 0x00, 0x00,             /* NextPayload KINK_ERROR, A 0,
                                         * CksumLen 0 */
    /* KINK_ERROR at 16 */
    0x00, 0x00, 0x00, 0x08,             /* next DONE, length 8 */
    0x00, 0x00, 0x00, 0x01              /* ErrorCode KINK_PROTOERR */
};

/* REPLY carrying KINK_KRB_ERROR, no checksum. */
static const uint8_t v_krberror[] = {
    0x03, 0x10, 0x00, 0x1c,             /* REPLY, MjVer 1, Length 28 */
    0x00, 0x00, 0x00, 0x01,             /* DOI 1 */
    0x00, 0x00, 0x00, 0x03,             /* XID 3 */
    0x03, 0x00, 0x00, 0x00,             /* NextPayload KINK_KRB_ERROR */
    0x00, 0x00, 0x00, 0x0a,             /* next DONE, length 4 + 6 */
    0x7e, 0x04, 0x30, 0x02, 0x01, 0x00, /* KRB-ERROR (stand-in) */
    0x00, 0x00                          /* padding to 28 */
};

/* ACK: KINK_AP_REQ + 12-octet checksum. */
static const uint8_t v_ack[] = {
    0x05, 0x10, 0x00, 0x28,             /* ACK, MjVer 1, Length 40 */
    0x00, 0x00, 0x00, 0x01,             /* DOI 1 */
    0x00, 0x00, 0x00, 0x01,             /* XID 1 */
    0x01, 0x00, 0x00, 0x0c,             /* NextPayload KINK_AP_REQ, A 0,
                                         * CksumLen 12 */
    0x00, 0x00, 0x00, 0x0c,             /* next DONE, length 4 + 4 + 4 */
    0x00, 0x00, 0x00, 0x2a,             /* EPOCH 42 */
    0x6e, 0x02, 0x05, 0x06,             /* AP-REQ (stand-in) */
    0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, /* Cksum at 28 */
    0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xeb
};

/* DELETE: KINK_AP_REQ + KINK_ISAKMP (a Delete payload) + checksum. */
static const uint8_t v_delete[] = {
    0x02, 0x10, 0x00, 0x30,             /* DELETE, MjVer 1, Length 48 */
    0x00, 0x00, 0x00, 0x01,             /* DOI 1 */
    0x00, 0x00, 0x00, 0x09,             /* XID 9 */
    0x01, 0x00, 0x00, 0x0c,             /* NextPayload KINK_AP_REQ,
                                         * CksumLen 12 */
    0x06, 0x00, 0x00, 0x09,             /* next ISAKMP, length 4 + 4 + 1 */
    0x00, 0x00, 0x00, 0x2a,             /* EPOCH 42 */
    0x6e,                               /* AP-REQ (stand-in) */
    0x00, 0x00, 0x00,                   /* padding to 28 */
    0x00, 0x00, 0x00, 0x08,             /* next DONE, length 4 + 4 + 0 */
    0x0c,                               /* InnerNextPload 12 (Delete) */
    0x10, 0x00, 0x00,                   /* QM 1.0, RESERVED */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, /* Cksum at 36 */
    0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c
};

/* STATUS: KINK_AP_REQ + KINK_ISAKMP (a Notify) + checksum, DOI 1. */
static const uint8_t v_status[] = {
    0x06, 0x10, 0x00, 0x38,             /* STATUS, MjVer 1, Length 56 */
    0x00, 0x00, 0x00, 0x01,             /* DOI 1 */
    0x00, 0x00, 0x00, 0x0a,             /* XID 10 */
    0x01, 0x00, 0x00, 0x0c,             /* KINK_AP_REQ, CksumLen 12 */
    0x06, 0x00, 0x00, 0x0c,             /* next ISAKMP, length 12 */
    0x00, 0x00, 0x00, 0x2b,             /* EPOCH 43 */
    0x6e, 0x02, 0x00, 0x00,             /* AP-REQ (stand-in) */
    0x00, 0x00, 0x00, 0x0e,             /* next DONE, length 4 + 4 + 6 */
    0x0b, 0x10, 0x00, 0x00,             /* InnerNextPload 11 (Notify),
                                         * QM 1.0, RESERVED */
    0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, /* Notify (stand-in) */
    0x00, 0x00,                         /* padding to 44 */
    0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, /* Cksum at 44 */
    0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb
};

/* CREATE: KINK_AP_REQ + KINK_ENCRYPT (opaque ciphertext) + checksum. */
static const uint8_t v_encrypt[] = {
    0x01, 0x10, 0x00, 0x38,             /* CREATE, MjVer 1, Length 56 */
    0x00, 0x00, 0x00, 0x01,             /* DOI 1 */
    0x00, 0x00, 0x00, 0x0b,             /* XID 11 */
    0x01, 0x00, 0x00, 0x0c,             /* KINK_AP_REQ, CksumLen 12 */
    0x07, 0x00, 0x00, 0x0c,             /* next KINK_ENCRYPT, length 12 */
    0x00, 0x00, 0x00, 0x2a,             /* EPOCH 42 */
    0x6e, 0x02, 0x00, 0x00,             /* AP-REQ (stand-in) */
    0x00, 0x00, 0x00, 0x0d,             /* next DONE, length 4 + 9 */
    0x91, 0x92, 0x93, 0x94, 0x95, 0x96, /* ciphertext (stand-in) */
    0x97, 0x98, 0x99,
    0x00, 0x00, 0x00,                   /* padding to 44 */
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, /* Cksum at 44 */
    0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c
};

/* The plaintext of a KINK_ENCRYPT: InnerNextPload, RESERVED (3), then
 * KINK_ISAKMP + KINK_ERROR. */
static const uint8_t v_inner[] = {
    0x06,                               /* InnerNextPload KINK_ISAKMP */
    0x00, 0x00, 0x00,                   /* RESERVED */
    0x08, 0x00, 0x00, 0x0d,             /* next KINK_ERROR, length 4+4+5 */
    0x01, 0x10, 0x00, 0x00,             /* InnerNextPload SA, QM 1.0 */
    0x55, 0x56, 0x57, 0x58, 0x59,       /* ISAKMP payloads (stand-in) */
    0x00, 0x00, 0x00,                   /* padding to 20 */
    0x00, 0x00, 0x00, 0x08,             /* next DONE, length 8 */
    0x00, 0x00, 0x00, 0x00              /* ErrorCode KINK_OK */
};

/* Payload constructors for the expected structures. */
static struct kink_payload
pl_ap(uint8_t type, uint32_t epoch, const uint8_t *d, size_t n)
{
    struct kink_payload p = { 0 };

    p.type = type;
    p.epoch = epoch;
    p.data = d;
    p.data_len = n;
    return p;
}

static struct kink_payload
pl_data(uint8_t type, const uint8_t *d, size_t n)
{
    return pl_ap(type, 0, d, n);
}

static struct kink_payload
pl_isakmp(uint8_t inner, const uint8_t *d, size_t n)
{
    struct kink_payload p = pl_data(KINK_ISAKMP, d, n);

    p.inner_next = inner;
    p.qm_maj = 1;
    p.qm_min = 0;
    return p;
}

static struct kink_payload
pl_error(uint32_t code)
{
    struct kink_payload p = { 0 };

    p.type = KINK_ERROR;
    p.error_code = code;
    return p;
}

static struct kink_msg
msg(uint8_t type, uint32_t xid, int ackreq)
{
    struct kink_msg m;

    memset(&m, 0, sizeof(m));
    m.type = type;
    m.doi = KINK_DOI_IPSEC;
    m.xid = xid;
    m.ackreq = ackreq;
    return m;
}

static void
assert_payload_eq(const struct kink_payload *got,
                  const struct kink_payload *want)
{
    ck_assert_uint_eq(got->type, want->type);
    ck_assert_uint_eq(got->epoch, want->epoch);
    ck_assert_uint_eq(got->error_code, want->error_code);
    ck_assert_uint_eq(got->inner_next, want->inner_next);
    ck_assert_uint_eq(got->qm_maj, want->qm_maj);
    ck_assert_uint_eq(got->qm_min, want->qm_min);
    ck_assert_uint_eq(got->data_len, want->data_len);
    if (want->data_len > 0)
        ck_assert_mem_eq(got->data, want->data, want->data_len);
}

static void
assert_chain_eq(const struct kink_chain *got, const struct kink_chain *want)
{
    size_t i;

    ck_assert_uint_eq(got->n, want->n);
    for (i = 0; i < want->n; i++)
        assert_payload_eq(&got->p[i], &want->p[i]);
}

/*
 * The vector v decodes to want (with its checksum at cksum_off), and
 * want encodes to exactly v once the checksum octets are filled in.
 */
static void
check_vector(const uint8_t *v, size_t n, const struct kink_msg *want,
             size_t cksum_len)
{
    struct kink_msg got, again;
    const char *why = NULL;
    uint8_t *buf;
    size_t len, off;

    ck_assert_int_eq(kink_msg_decode(v, n, &got, &why), 0);
    ck_assert_uint_eq(got.type, want->type);
    ck_assert_uint_eq(got.mjver, 1);
    ck_assert_uint_eq(got.doi, want->doi);
    ck_assert_uint_eq(got.xid, want->xid);
    ck_assert_int_eq(got.ackreq, want->ackreq);
    ck_assert_uint_eq(got.len, n);
    ck_assert_uint_eq(got.cksum_len, cksum_len);
    ck_assert_uint_eq(got.cksum_off, n - cksum_len);
    if (cksum_len > 0)
        ck_assert_ptr_eq(got.cksum, v + n - cksum_len);
    else
        ck_assert_ptr_null(got.cksum);
    ck_assert_int_eq(got.canonical, 1);
    ck_assert_uint_eq(got.kink_error, KINK_OK);
    assert_chain_eq(&got.chain, &want->chain);

    ck_assert_int_eq(kink_msg_encode(want, cksum_len, &buf, &len, &off), 0);
    ck_assert_uint_eq(len, n);
    ck_assert_uint_eq(off, n - cksum_len);
    ck_assert(memcmp(buf + off, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
                     cksum_len > 16 ? 16 : cksum_len) == 0);
    if (cksum_len > 0)
        ck_assert_int_eq(kink_msg_set_cksum(buf, len, v + off, cksum_len), 0);
    ck_assert_mem_eq(buf, v, n);

    /* Round trip: what the encoder made decodes to the same message. */
    ck_assert_int_eq(kink_msg_decode(buf, len, &again, NULL), 0);
    assert_chain_eq(&again.chain, &got.chain);
    free(buf);
}

static const uint8_t ap_req5[] = { 0x6e, 0x03, 0x01, 0x02, 0x03 };
static const uint8_t isakmp6[] = { 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };

START_TEST(test_create)
{
    struct kink_msg m = msg(KINK_MSG_CREATE, 0x12345678, 0);

    m.chain.n = 2;
    m.chain.p[0] = pl_ap(KINK_AP_REQ, 42, ap_req5, 5);
    m.chain.p[1] = pl_isakmp(10, isakmp6, 6);
    check_vector(v_create, sizeof(v_create), &m, 12);
}
END_TEST

START_TEST(test_reply)
{
    static const uint8_t ap_rep[] = { 0x6f, 0x02, 0xaa, 0xbb };
    static const uint8_t sa[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    struct kink_msg m = msg(KINK_MSG_REPLY, 1, 1);

    m.chain.n = 2;
    m.chain.p[0] = pl_ap(KINK_AP_REP, 7, ap_rep, 4);
    m.chain.p[1] = pl_isakmp(1, sa, 8);
    check_vector(v_reply, sizeof(v_reply), &m, 16);
}
END_TEST

START_TEST(test_gettgt)
{
    struct kink_msg m = msg(KINK_MSG_GETTGT, 2, 0);

    m.chain.n = 1;
    m.chain.p[0] = pl_data(KINK_TGT_REQ, (const uint8_t *)"device/b@EX", 11);
    check_vector(v_gettgt, sizeof(v_gettgt), &m, 0);
}
END_TEST

START_TEST(test_tgt_rep)
{
    static const uint8_t tgt[] = { 0x61, 0x05, 0x30, 0x03, 0x02, 0x01, 5 };
    struct kink_msg m = msg(KINK_MSG_REPLY, 2, 0);

    m.chain.n = 1;
    m.chain.p[0] = pl_data(KINK_TGT_REP, tgt, sizeof(tgt));
    check_vector(v_tgtrep, sizeof(v_tgtrep), &m, 0);
}
END_TEST

START_TEST(test_error)
{
    struct kink_msg m = msg(KINK_MSG_REPLY, 0xdeadbeef, 0);

    m.chain.n = 1;
    m.chain.p[0] = pl_error(KINK_PROTOERR);
    check_vector(v_error, sizeof(v_error), &m, 0);
}
END_TEST

START_TEST(test_krb_error)
{
    static const uint8_t ke[] = { 0x7e, 0x04, 0x30, 0x02, 0x01, 0x00 };
    struct kink_msg m = msg(KINK_MSG_REPLY, 3, 0);

    m.chain.n = 1;
    m.chain.p[0] = pl_data(KINK_KRB_ERROR, ke, sizeof(ke));
    check_vector(v_krberror, sizeof(v_krberror), &m, 0);
}
END_TEST

START_TEST(test_ack)
{
    static const uint8_t ap[] = { 0x6e, 0x02, 0x05, 0x06 };
    struct kink_msg m = msg(KINK_MSG_ACK, 1, 0);

    m.chain.n = 1;
    m.chain.p[0] = pl_ap(KINK_AP_REQ, 42, ap, 4);
    check_vector(v_ack, sizeof(v_ack), &m, 12);
}
END_TEST

START_TEST(test_delete)
{
    struct kink_msg m = msg(KINK_MSG_DELETE, 9, 0);

    m.chain.n = 2;
    m.chain.p[0] = pl_ap(KINK_AP_REQ, 42, ap_req5, 1);
    m.chain.p[1] = pl_isakmp(12, NULL, 0);
    check_vector(v_delete, sizeof(v_delete), &m, 12);
}
END_TEST

START_TEST(test_status)
{
    static const uint8_t ap[] = { 0x6e, 0x02, 0x00, 0x00 };
    static const uint8_t notify[] = { 0, 0, 0, 0x0c, 0, 0 };
    struct kink_msg m = msg(KINK_MSG_STATUS, 10, 0);

    m.chain.n = 2;
    m.chain.p[0] = pl_ap(KINK_AP_REQ, 43, ap, 4);
    m.chain.p[1] = pl_isakmp(11, notify, 6);
    check_vector(v_status, sizeof(v_status), &m, 12);
}
END_TEST

START_TEST(test_encrypt)
{
    static const uint8_t ap[] = { 0x6e, 0x02, 0x00, 0x00 };
    static const uint8_t ct[] = { 0x91, 0x92, 0x93, 0x94, 0x95, 0x96,
                                  0x97, 0x98, 0x99 };
    static const uint8_t sa[] = { 0x55, 0x56, 0x57, 0x58, 0x59 };
    struct kink_msg m = msg(KINK_MSG_CREATE, 11, 0);
    struct kink_chain inner, want;
    uint8_t *buf;
    size_t len;
    int canonical = 0;

    m.chain.n = 2;
    m.chain.p[0] = pl_ap(KINK_AP_REQ, 42, ap, 4);
    m.chain.p[1] = pl_data(KINK_ENCRYPT, ct, sizeof(ct));
    check_vector(v_encrypt, sizeof(v_encrypt), &m, 12);

    /* The decrypted contents. */
    memset(&want, 0, sizeof(want));
    want.n = 2;
    want.p[0] = pl_isakmp(1, sa, sizeof(sa));
    want.p[1] = pl_error(KINK_OK);
    ck_assert_int_eq(kink_msg_decode_inner(v_inner, sizeof(v_inner), &inner,
                                           &canonical, NULL), 0);
    ck_assert_int_eq(canonical, 1);
    assert_chain_eq(&inner, &want);
    ck_assert_int_eq(kink_msg_encode_inner(&want, &buf, &len), 0);
    ck_assert_uint_eq(len, sizeof(v_inner));
    ck_assert_mem_eq(buf, v_inner, len);
    free(buf);
}
END_TEST

/* Inner chain: cipher padding accepted, nested AP_REQ/ENCRYPT refused. */
START_TEST(test_inner_rules)
{
    uint8_t b[64];
    struct kink_chain c;
    const char *why = NULL;
    int canonical = 1;

    memcpy(b, v_inner, sizeof(v_inner));
    memset(b + sizeof(v_inner), 0, 8);
    ck_assert_int_eq(kink_msg_decode_inner(b, sizeof(v_inner) + 8, &c,
                                           &canonical, &why), 0);
    ck_assert_int_eq(canonical, 0);
    ck_assert_uint_eq(c.n, 2);
    b[sizeof(v_inner) + 3] = 1;
    ck_assert_int_eq(kink_msg_decode_inner(b, sizeof(v_inner) + 8, &c,
                                           NULL, &why), EINVAL);

    memcpy(b, v_inner, sizeof(v_inner));
    b[0] = KINK_AP_REQ;
    ck_assert_int_eq(kink_msg_decode_inner(b, sizeof(v_inner), &c, NULL,
                                           &why), EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "inside KINK_ENCRYPT"));
    b[0] = KINK_ENCRYPT;
    ck_assert_int_eq(kink_msg_decode_inner(b, sizeof(v_inner), &c, NULL,
                                           &why), EINVAL);
    ck_assert_int_eq(kink_msg_decode_inner(b, 3, &c, NULL, &why), EINVAL);
}
END_TEST

static const struct {
    const uint8_t *v;
    size_t n;
} vectors[] = {
    { v_create, sizeof(v_create) }, { v_reply, sizeof(v_reply) },
    { v_gettgt, sizeof(v_gettgt) }, { v_tgtrep, sizeof(v_tgtrep) },
    { v_error, sizeof(v_error) }, { v_krberror, sizeof(v_krberror) },
    { v_ack, sizeof(v_ack) }, { v_delete, sizeof(v_delete) },
    { v_status, sizeof(v_status) }, { v_encrypt, sizeof(v_encrypt) }
};

/* Every proper prefix of every vector is refused. */
START_TEST(test_truncated)
{
    const uint8_t *v = vectors[_i].v;
    size_t n, len = vectors[_i].n;
    struct kink_msg m;
    const char *why;

    for (n = 0; n < len; n++) {
        why = NULL;
        ck_assert_int_eq(kink_msg_decode(v, n, &m, &why), EINVAL);
        ck_assert_ptr_nonnull(why);
        ck_assert_uint_eq(m.kink_error, KINK_PROTOERR);
    }
    ck_assert_int_eq(kink_msg_decode(v, len, &m, NULL), 0);
}
END_TEST

/* A copy of v_create to corrupt. */
static uint8_t work[128];

static krb5_error_code
decode_work(size_t n, const char **why, struct kink_msg *m)
{
    *why = NULL;
    return kink_msg_decode(work, n, m, why);
}

START_TEST(test_length_mismatch)
{
    struct kink_msg m;
    const char *why;
    size_t n = sizeof(v_create);

    memcpy(work, v_create, n);
    /* Length larger than the datagram. */
    work[3] = (uint8_t)(n + 4);
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    ck_assert_str_eq(why, "KINK Length exceeds the datagram");
    /* Length smaller than the header. */
    work[3] = 15;
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    ck_assert_str_eq(why, "KINK Length smaller than the header");
    /* Length 4 short: the checksum moves into the ISAKMP payload. */
    work[3] = (uint8_t)(n - 4);
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    /* Octets after Length are not the message (RFC 4430 section 4). */
    memcpy(work, v_create, n);
    memset(work + n, 0x5a, 4);
    ck_assert_int_eq(decode_work(n + 4, &why, &m), 0);
    ck_assert_uint_eq(m.len, n);
    ck_assert_int_eq(m.canonical, 0);
}
END_TEST

START_TEST(test_payload_length)
{
    struct kink_msg m;
    const char *why;
    size_t n = sizeof(v_create);

    memcpy(work, v_create, n);
    work[19] = 0xff;                    /* AP_REQ Payload Length 255 */
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    ck_assert_str_eq(why, "KINK payload length overruns the message");
    work[19] = 3;                       /* smaller than the payload header */
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    ck_assert_str_eq(why, "KINK payload length smaller than its header");
    work[19] = 7;                       /* EPOCH cut */
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    ck_assert_str_eq(why, "KINK_AP_REQ/AP_REP shorter than its EPOCH");
    /* ISAKMP 4 octets shorter: 4 octets of data are left between the
     * chain's padding and the checksum. */
    memcpy(work, v_create, n);
    work[35] = 0x0a;
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    ck_assert_str_eq(why, "data after the last KINK payload");
    /* KINK_ERROR must be exactly 4 octets of ErrorCode. */
    memcpy(work, v_error, sizeof(v_error));
    work[19] = 7;
    ck_assert_int_eq(decode_work(sizeof(v_error), &why, &m), EINVAL);
    /* TGT_REQ PrincName length disagreeing with Payload Length. */
    memcpy(work, v_gettgt, sizeof(v_gettgt));
    work[21] = 10;
    ck_assert_int_eq(decode_work(sizeof(v_gettgt), &why, &m), EINVAL);
    ck_assert_str_eq(why,
                     "KINK_TGT_REQ PrincName length does not match the "
                     "payload");
}
END_TEST

START_TEST(test_bad_version)
{
    struct kink_msg m;
    const char *why;
    size_t n = sizeof(v_create);

    memcpy(work, v_create, n);
    work[1] = 0x20;                     /* MjVer 2 */
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    ck_assert_uint_eq(m.kink_error, KINK_INVMAJ);
    ck_assert_uint_eq(m.xid, 0x12345678);   /* enough to answer */
    work[1] = 0x00;                     /* MjVer 0 */
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    ck_assert_uint_eq(m.kink_error, KINK_INVMAJ);
    /* The low nibble is RESRVED in RFC 4430: ignored. */
    work[1] = 0x13;
    ck_assert_int_eq(decode_work(n, &why, &m), 0);
    ck_assert_int_eq(m.canonical, 0);
    /* Unknown message types. */
    memcpy(work, v_create, n);
    work[0] = 0;
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    work[0] = 7;
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    ck_assert_str_eq(why, "unknown KINK message type");
}
END_TEST

/* RFC 4430 gives KINK payloads no critical bit and no rule to skip an
 * unknown one; we refuse it with KINK_PROTOERR (as racoon2 does). */
START_TEST(test_unknown_payload)
{
    struct kink_msg m;
    const char *why;
    size_t n = sizeof(v_create);

    memcpy(work, v_create, n);
    work[12] = 9;                       /* first payload: reserved type */
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    ck_assert_str_eq(why, "unknown KINK payload type");
    ck_assert_uint_eq(m.kink_error, KINK_PROTOERR);
    work[12] = 200;                     /* private use */
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    memcpy(work, v_create, n);
    work[16] = 0x7f;                    /* second payload */
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    ck_assert_str_eq(why, "unknown KINK payload type");
}
END_TEST

START_TEST(test_cksum_len)
{
    struct kink_msg m;
    const char *why;
    size_t n = sizeof(v_create);

    memcpy(work, v_create, n);
    work[14] = 0x00;
    work[15] = (uint8_t)(n - 16 + 1);   /* one past the payloads' start */
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    ck_assert_str_eq(why, "KINK CksumLen exceeds the message");
    work[14] = 0xff;
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    work[14] = 0x00;
    work[15] = 13;                      /* Cksum at 47: unaligned */
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    ck_assert_str_eq(why,
                     "KINK checksum does not start on a 4-octet boundary");
    work[15] = 16;                      /* Cksum inside the ISAKMP payload */
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    /* No checksum: the 12 octets become data after the chain. */
    work[15] = 0;
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    ck_assert_str_eq(why, "data after the last KINK payload");
}
END_TEST

/* Build a message whose chain has one payload of each type in types:
 * KINK_ERROR with its 4-octet ErrorCode, the others with an 8-octet body
 * (a TGT_REQ's starts with PrincName length 6). */
static size_t
build_chain(const uint8_t *types, size_t ntypes)
{
    size_t i, off = 16, plen;

    memset(work, 0, sizeof(work));
    work[0] = KINK_MSG_CREATE;
    work[1] = 0x10;
    work[12] = types[0];
    for (i = 0; i < ntypes; i++) {
        plen = (types[i] == KINK_ERROR) ? 8 : 12;
        work[off] = (i + 1 < ntypes) ? types[i + 1] : KINK_DONE;
        work[off + 3] = (uint8_t)plen;
        if (types[i] == KINK_TGT_REQ)
            work[off + 5] = 6;
        off += plen;
    }
    work[3] = (uint8_t)off;
    return off;
}

START_TEST(test_too_many_payloads)
{
    static const uint8_t all8[] = {
        KINK_AP_REQ, KINK_AP_REP, KINK_KRB_ERROR, KINK_TGT_REQ,
        KINK_TGT_REP, KINK_ISAKMP, KINK_ERROR, KINK_ENCRYPT, KINK_AP_REQ
    };
    static const uint8_t dup[] = { KINK_AP_REQ, KINK_ISAKMP, KINK_ISAKMP };
    static const uint8_t enc_first[] = { KINK_ENCRYPT, KINK_ISAKMP };
    struct kink_msg m;
    const char *why;
    size_t n;

    n = build_chain(all8, 8);
    ck_assert_int_eq(decode_work(n, &why, &m), 0);
    ck_assert_uint_eq(m.chain.n, KINK_MSG_MAX_PAYLOADS);
    n = build_chain(all8, 9);
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    ck_assert_str_eq(why, "too many KINK payloads");
    n = build_chain(dup, 3);
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    ck_assert_str_eq(why, "duplicate KINK payload");
    n = build_chain(enc_first, 2);
    ck_assert_int_eq(decode_work(n, &why, &m), EINVAL);
    ck_assert_str_eq(why, "KINK_ENCRYPT is not the last payload");
}
END_TEST

/* The encoder refuses what the decoder would. */
START_TEST(test_encode_refusals)
{
    static const uint8_t d[] = { 1, 2, 3 };
    struct kink_msg m = msg(KINK_MSG_CREATE, 1, 0);
    uint8_t *buf;
    size_t len, off;

    m.chain.n = 2;
    m.chain.p[0] = pl_data(KINK_ENCRYPT, d, 3);
    m.chain.p[1] = pl_isakmp(1, d, 3);
    ck_assert_int_eq(kink_msg_encode(&m, 0, &buf, &len, &off), EINVAL);
    m.chain.p[0] = pl_isakmp(1, d, 3);
    ck_assert_int_eq(kink_msg_encode(&m, 0, &buf, &len, &off), EINVAL);
    m.chain.p[0] = pl_data(9, d, 3);
    ck_assert_int_eq(kink_msg_encode(&m, 0, &buf, &len, &off), EINVAL);
    m.chain.p[0] = pl_ap(KINK_AP_REQ, 1, NULL, 0);
    ck_assert_int_eq(kink_msg_encode(&m, 0, &buf, &len, &off), EINVAL);
    m.chain.p[0] = pl_ap(KINK_AP_REQ, 1, d, 3);
    m.chain.p[1] = pl_data(KINK_TGT_REP, d, 70000);
    ck_assert_int_eq(kink_msg_encode(&m, 0, &buf, &len, &off), EINVAL);
    m.chain.n = 1;
    ck_assert_int_eq(kink_msg_encode(&m, 65536, &buf, &len, &off), EINVAL);
    m.type = 0;
    ck_assert_int_eq(kink_msg_encode(&m, 0, &buf, &len, &off), EINVAL);
    m.type = KINK_MSG_ACK;
    ck_assert_int_eq(kink_msg_encode(&m, 0, &buf, &len, &off), 0);
    ck_assert_ptr_nonnull(buf);
    free(buf);
}
END_TEST

/* A fixed aes128-cts session key. */
static void
test_key(krb5_keyblock *kb, uint8_t *bytes)
{
    size_t i;

    for (i = 0; i < 16; i++)
        bytes[i] = (uint8_t)(0x40 + i);
    memset(kb, 0, sizeof(*kb));
    kb->magic = KV5M_KEYBLOCK;
    kb->enctype = ENCTYPE_AES128_CTS_HMAC_SHA1_96;
    kb->length = 16;
    kb->contents = bytes;
}

/*
 * The checksum computed through kink_msg_cksum_input() equals
 * krb5_c_make_checksum() over the octets the mode names, taken as one
 * contiguous buffer; it verifies after decoding, and a flipped octet or
 * the other mode fails verification.
 */
START_TEST(test_cksum_input)
{
    enum kink_cksum_mode mode = (enum kink_cksum_mode)_i;
    krb5_context ctx;
    krb5_keyblock kb;
    krb5_checksum ck;
    krb5_data in;
    struct kink_msg m = msg(KINK_MSG_CREATE, 0x12345678, 0), dec;
    struct kink_cksum_input ci;
    uint8_t kbytes[16], *buf, copy[128];
    size_t clen, len, off;
    krb5_boolean valid;
    const krb5_cksumtype ct = CKSUMTYPE_HMAC_SHA1_96_AES128;

    ck_assert_int_eq(krb5_init_context(&ctx), 0);
    test_key(&kb, kbytes);
    ck_assert_int_eq(krb5_c_checksum_length(ctx, ct, &clen), 0);
    m.chain.n = 2;
    m.chain.p[0] = pl_ap(KINK_AP_REQ, 42, ap_req5, 5);
    m.chain.p[1] = pl_isakmp(10, isakmp6, 6);
    ck_assert_int_eq(kink_msg_encode(&m, clen, &buf, &len, &off), 0);

    ck_assert_int_eq(kink_msg_cksum_input(buf, len, mode, &ci), 0);
    ck_assert_uint_eq(ci.n, mode == KINK_CKSUM_RFC4430 ? 2 : 3);
    ck_assert_int_eq(krb5_c_make_checksum_iov(ctx, ct, &kb,
                                              KINK_KU_CKSUM,
                                              ci.iov, ci.n), 0);

    /* The same over a contiguous copy of what the mode covers. */
    memcpy(copy, buf, off);
    if (mode == KINK_CKSUM_RACOON2) {
        copy[2] = (uint8_t)(off >> 8);
        copy[3] = (uint8_t)off;
        copy[14] = copy[15] = 0;
    } else {
        ck_assert_uint_eq(copy[3], len);   /* final Length */
        ck_assert_uint_eq(copy[15], clen); /* final CksumLen */
    }
    in.magic = KV5M_DATA;
    in.data = (char *)copy;
    in.length = off;
    ck_assert_int_eq(krb5_c_make_checksum(ctx, ct, &kb, KINK_KU_CKSUM,
                                          &in, &ck), 0);
    ck_assert_uint_eq(ck.length, clen);
    ck_assert_mem_eq(ck.contents, buf + off, clen);
    krb5_free_checksum_contents(ctx, &ck);

    /* Receiver side. */
    ck_assert_int_eq(kink_msg_decode(buf, len, &dec, NULL), 0);
    ck_assert_int_eq(kink_msg_cksum_input(buf, len, mode, &ci), 0);
    ck_assert_int_eq(krb5_c_verify_checksum_iov(ctx, ct, &kb,
                                                KINK_KU_CKSUM,
                                                ci.iov, ci.n, &valid), 0);
    ck_assert(valid);
    ck_assert_int_eq(kink_msg_cksum_input(buf, len,
                                          (enum kink_cksum_mode)(1 - mode),
                                          &ci), 0);
    ck_assert_int_eq(krb5_c_verify_checksum_iov(ctx, ct, &kb,
                                                KINK_KU_CKSUM,
                                                ci.iov, ci.n, &valid), 0);
    ck_assert(!valid);
    buf[20] ^= 1;                       /* the EPOCH */
    ck_assert_int_eq(kink_msg_cksum_input(buf, len, mode, &ci), 0);
    ck_assert_int_eq(krb5_c_verify_checksum_iov(ctx, ct, &kb,
                                                KINK_KU_CKSUM,
                                                ci.iov, ci.n, &valid), 0);
    ck_assert(!valid);

    /* No checksum, or a bad ck_len: refused. */
    ck_assert_int_eq(kink_msg_set_cksum(buf, len, copy, clen + 1), EINVAL);
    free(buf);
    ck_assert_int_eq(kink_msg_cksum_input((uint8_t *)v_gettgt,
                                          sizeof(v_gettgt), mode, &ci),
                     EINVAL);
    krb5_free_context(ctx);
}
END_TEST

START_TEST(test_names)
{
    ck_assert_str_eq(kink_msg_type_name(KINK_MSG_GETTGT), "GETTGT");
    ck_assert_str_eq(kink_msg_type_name(99), "unknown");
    ck_assert_str_eq(kink_payload_type_name(KINK_ENCRYPT), "KINK_ENCRYPT");
    ck_assert_str_eq(kink_error_name(KINK_BADQMVERS), "KINK_BADQMVERS");
    ck_assert_str_eq(kink_error_name(8192), "unknown");
}
END_TEST

static Suite *
kink_msg_suite(void)
{
    Suite *s = suite_create("kink_msg");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_create);
    tcase_add_test(tc, test_reply);
    tcase_add_test(tc, test_gettgt);
    tcase_add_test(tc, test_tgt_rep);
    tcase_add_test(tc, test_error);
    tcase_add_test(tc, test_krb_error);
    tcase_add_test(tc, test_ack);
    tcase_add_test(tc, test_delete);
    tcase_add_test(tc, test_status);
    tcase_add_test(tc, test_encrypt);
    tcase_add_test(tc, test_inner_rules);
    tcase_add_loop_test(tc, test_truncated, 0,
                        sizeof(vectors) / sizeof(*vectors));
    tcase_add_test(tc, test_length_mismatch);
    tcase_add_test(tc, test_payload_length);
    tcase_add_test(tc, test_bad_version);
    tcase_add_test(tc, test_unknown_payload);
    tcase_add_test(tc, test_cksum_len);
    tcase_add_test(tc, test_too_many_payloads);
    tcase_add_test(tc, test_encode_refusals);
    tcase_add_loop_test(tc, test_cksum_input, KINK_CKSUM_RFC4430,
                        KINK_CKSUM_RACOON2 + 1);
    tcase_add_test(tc, test_names);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return unit_run(kink_msg_suite());
}
