/*
 * Unit tests of the Quick Mode payload codec inside KINK_ISAKMP
 * (kink/kink_isakmp.h).
 *
 * The byte vectors below are written by hand from the payload diagrams of
 * RFC 2408 section 3 (generic header 3.2, SA 3.4, Proposal 3.5, Transform
 * 3.6, data attributes 3.3, KE 3.7, Nonce 3.13, Notify 3.14, Delete 3.15)
 * and RFC 2407 section 4 (DOI, situation, attribute and ID values), one
 * comment per field, so that the encoder is checked against the RFC and
 * not against itself.  Then round trips, the ESP typed view, and
 * refusals: truncation at every length, lengths overrunning their
 * container, attribute overrun, the count limits and empty payloads.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <krb5/krb5.h>

#include "kink_isakmp.h"
#include "unit_util.h"

/* ---- vector A: SA, Nonce, KE, IDci (IPv4 host), IDcr (IPv4 subnet) ---- */
/* Offsets used by the refusal tests are noted as [n]. */
static const unsigned char vec_a[] = {
    /* [0] SA payload (RFC 2408 3.4) */
    0x0a,                   /* Next Payload: Nonce (10) */
    0x00,                   /* RESERVED */
    0x00, 0x6c,             /* Payload Length: 108 */
    0x00, 0x00, 0x00, 0x01, /* DOI: IPsec (1) */
    0x00, 0x00, 0x00, 0x01, /* Situation: SIT_IDENTITY_ONLY (1) */
    /* [12] Proposal #1 (RFC 2408 3.5) */
    0x02,                   /* Next Payload: Proposal (2) */
    0x00,                   /* RESERVED */
    0x00, 0x2c,             /* Payload Length: 44 */
    0x01,                   /* Proposal #: 1 */
    0x03,                   /* Protocol-Id: PROTO_IPSEC_ESP (3) */
    0x04,                   /* SPI Size: 4 */
    0x01,                   /* # of Transforms: 1 */
    0x11, 0x22, 0x33, 0x44, /* SPI */
    /* [24] Transform #1 (RFC 2408 3.6) */
    0x00,                   /* Next Payload: none (last transform) */
    0x00,                   /* RESERVED */
    0x00, 0x20,             /* Payload Length: 32 */
    0x01,                   /* Transform #: 1 */
    0x0c,                   /* Transform-Id: ESP_AES (12) */
    0x00, 0x00,             /* RESERVED2 */
    /* [32] SA attributes (RFC 2408 3.3, RFC 2407 4.5) */
    0x80, 0x01, 0x00, 0x01, /* TV SA Life Type (1): seconds (1) */
    0x00, 0x02, 0x00, 0x04, /* TLV SA Life Duration (2), length 4 */
    0x00, 0x00, 0x0e, 0x10, /*   3600 */
    0x80, 0x04, 0x00, 0x02, /* TV Encapsulation Mode (4): Transport (2) */
    0x80, 0x05, 0x00, 0x02, /* TV Authentication Algorithm (5): HMAC-SHA */
    0x80, 0x06, 0x00, 0x80, /* TV Key Length (6): 128 */
    /* [56] Proposal #2 */
    0x00,                   /* Next Payload: none (last proposal) */
    0x00,                   /* RESERVED */
    0x00, 0x34,             /* Payload Length: 52 */
    0x02,                   /* Proposal #: 2 */
    0x03,                   /* Protocol-Id: PROTO_IPSEC_ESP (3) */
    0x04,                   /* SPI Size: 4 */
    0x01,                   /* # of Transforms: 1 */
    0x55, 0x66, 0x77, 0x88, /* SPI */
    /* [68] Transform #1 */
    0x00,                   /* Next Payload: none */
    0x00,                   /* RESERVED */
    0x00, 0x28,             /* Payload Length: 40 */
    0x01,                   /* Transform #: 1 */
    0x14,                   /* Transform-Id: ESP_AES_GCM_16 (20, RFC 4106) */
    0x00, 0x00,             /* RESERVED2 */
    0x80, 0x01, 0x00, 0x01, /* TV SA Life Type: seconds */
    0x00, 0x02, 0x00, 0x04, /* TLV SA Life Duration, length 4 */
    0x00, 0x00, 0x0e, 0x10, /*   3600 */
    0x80, 0x01, 0x00, 0x02, /* TV SA Life Type: kilobytes (2) */
    0x00, 0x02, 0x00, 0x04, /* TLV SA Life Duration, length 4 */
    0x00, 0x01, 0x86, 0xa0, /*   100000 */
    0x80, 0x04, 0x00, 0x01, /* TV Encapsulation Mode: Tunnel (1) */
    0x80, 0x06, 0x01, 0x00, /* TV Key Length: 256 */
    /* [108] Nonce payload (RFC 2408 3.13) */
    0x04,                   /* Next Payload: KE (4) */
    0x00,                   /* RESERVED */
    0x00, 0x14,             /* Payload Length: 20 */
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, /* Nonce Data (16) */
    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    /* [128] KE payload (RFC 2408 3.7); the codec leaves the size of the
     * group's value to the caller */
    0x05,                   /* Next Payload: ID (5) */
    0x00,                   /* RESERVED */
    0x00, 0x0c,             /* Payload Length: 12 */
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, /* Key Exchange Data */
    /* [140] IDci (RFC 2407 4.6.2) */
    0x05,                   /* Next Payload: ID (5) */
    0x00,                   /* RESERVED */
    0x00, 0x0c,             /* Payload Length: 12 */
    0x01,                   /* ID Type: ID_IPV4_ADDR (1) */
    0x00,                   /* Protocol ID: any */
    0x00, 0x00,             /* Port: any */
    0xc0, 0x00, 0x02, 0x01, /* 192.0.2.1 */
    /* [152] IDcr */
    0x00,                   /* Next Payload: none */
    0x00,                   /* RESERVED */
    0x00, 0x10,             /* Payload Length: 16 */
    0x04,                   /* ID Type: ID_IPV4_ADDR_SUBNET (4) */
    0x11,                   /* Protocol ID: UDP (17) */
    0x03, 0x8e,             /* Port: 910 */
    0xc6, 0x33, 0x64, 0x00, /* 198.51.100.0 */
    0xff, 0xff, 0xff, 0x00, /* 255.255.255.0 */
};

/* ---- vector B: one ID payload, IPv6 host with protocol and port ---- */
static const unsigned char vec_b[] = {
    0x00,                   /* Next Payload: none */
    0x00,                   /* RESERVED */
    0x00, 0x18,             /* Payload Length: 24 */
    0x05,                   /* ID Type: ID_IPV6_ADDR (5) */
    0x06,                   /* Protocol ID: TCP (6) */
    0x00, 0x16,             /* Port: 22 */
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, /* 2001:db8::1 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
};

/* ---- vector C: Notify, Delete ---- */
static const unsigned char vec_c[] = {
    /* Notify (RFC 2408 3.14) */
    0x0c,                   /* Next Payload: Delete (12) */
    0x00,                   /* RESERVED */
    0x00, 0x1c,             /* Payload Length: 28 */
    0x00, 0x00, 0x00, 0x01, /* DOI: IPsec */
    0x03,                   /* Protocol-Id: ESP */
    0x04,                   /* SPI Size: 4 */
    0x60, 0x00,             /* Notify Message Type: RESPONDER-LIFETIME
                             * (24576, RFC 2407 4.6.3.1) */
    0x11, 0x22, 0x33, 0x44, /* SPI */
    0x80, 0x01, 0x00, 0x01, /* Notification Data: Life Type seconds, */
    0x00, 0x02, 0x00, 0x04, /*   Life Duration, length 4, */
    0x00, 0x00, 0x07, 0x08, /*   1800 */
    /* [28] Delete (RFC 2408 3.15) */
    0x00,                   /* Next Payload: none */
    0x00,                   /* RESERVED */
    0x00, 0x14,             /* Payload Length: 20 */
    0x00, 0x00, 0x00, 0x01, /* DOI: IPsec */
    0x03,                   /* Protocol-Id: ESP */
    0x04,                   /* SPI Size: 4 */
    0x00, 0x02,             /* # of SPIs: 2 */
    0x11, 0x22, 0x33, 0x44, /* SPI 1 */
    0x55, 0x66, 0x77, 0x88, /* SPI 2 */
};

static const unsigned char spi1[4] = { 0x11, 0x22, 0x33, 0x44 };
static const unsigned char spi2[4] = { 0x55, 0x66, 0x77, 0x88 };

/* Decode and require success. */
static void
decode_ok(const unsigned char *buf, size_t len, uint8_t first,
          struct kink_isakmp_chain *ch)
{
    const char *why = NULL;
    krb5_error_code ret = kink_isakmp_decode(buf, len, first, ch, &why);

    ck_assert_msg(ret == 0, "decode failed: %s", why ? why : "(none)");
}

/* Decode and require EINVAL with a reason containing want. */
static void
refused(const unsigned char *buf, size_t len, uint8_t first,
        const char *want)
{
    struct kink_isakmp_chain *ch = malloc(sizeof(*ch));
    const char *why = NULL;
    krb5_error_code ret;

    ck_assert_ptr_nonnull(ch);
    ret = kink_isakmp_decode(buf, len, first, ch, &why);
    ck_assert_int_eq(ret, EINVAL);
    ck_assert_ptr_nonnull(why);
    if (want != NULL)
        ck_assert_msg(strstr(why, want) != NULL, "reason \"%s\", want \"%s\"",
                      why, want);
    free(ch);
}

/* Encode n payloads and compare with the expected bytes. */
static void
encode_eq(const struct kink_isakmp_payload *pl, size_t n,
          const unsigned char *want, size_t want_len, uint8_t want_first)
{
    krb5_data out;
    const char *why = NULL;
    uint8_t first = 0;
    krb5_error_code ret;

    ret = kink_isakmp_encode_alloc(pl, n, &out, &first, &why);
    ck_assert_msg(ret == 0, "encode failed: %s", why ? why : "(none)");
    ck_assert_uint_eq(first, want_first);
    ck_assert_uint_eq(out.length, want_len);
    ck_assert_mem_eq(out.data, want, want_len);
    krb5_free_data_contents(NULL, &out);
}

/* Decode, re-encode the decoded chain and compare. */
static void
round_trip(const unsigned char *buf, size_t len, uint8_t first)
{
    struct kink_isakmp_chain *ch = malloc(sizeof(*ch));

    ck_assert_ptr_nonnull(ch);
    decode_ok(buf, len, first, ch);
    encode_eq(ch->payloads, ch->n_payloads, buf, len, first);
    free(ch);
}

START_TEST(test_vec_a_decode)
{
    struct kink_isakmp_chain *ch = malloc(sizeof(*ch));
    const struct kink_isakmp_sa *sa;
    const struct kink_isakmp_proposal *p;
    const struct kink_isakmp_transform *t;
    const struct kink_isakmp_id *id;
    uint64_t v;

    decode_ok(vec_a, sizeof(vec_a), KINK_ISAKMP_PL_SA, ch);
    ck_assert_uint_eq(ch->n_payloads, 5);
    ck_assert_uint_eq(ch->payloads[0].type, KINK_ISAKMP_PL_SA);
    ck_assert_ptr_eq(ch->payloads[0].raw, vec_a);
    ck_assert_uint_eq(ch->payloads[0].raw_len, 108);
    sa = ch->payloads[0].u.sa;
    ck_assert_uint_eq(sa->doi, KINK_DOI_IPSEC);
    ck_assert_uint_eq(sa->situation, KINK_SIT_IDENTITY_ONLY);
    ck_assert_uint_eq(sa->n_proposals, 2);

    p = &sa->proposals[0];
    ck_assert_uint_eq(p->number, 1);
    ck_assert_uint_eq(p->protocol, KINK_PROTO_IPSEC_ESP);
    ck_assert_uint_eq(p->spi_size, 4);
    ck_assert_ptr_eq(p->spi, vec_a + 20);       /* zero-copy */
    ck_assert_uint_eq(p->n_transforms, 1);
    t = &p->transforms[0];
    ck_assert_uint_eq(t->number, 1);
    ck_assert_uint_eq(t->id, KINK_ESP_AES_CBC);
    ck_assert_uint_eq(t->n_attrs, 5);
    ck_assert_uint_eq(t->attrs[0].type, KINK_ATTR_SA_LIFE_TYPE);
    ck_assert(t->attrs[0].tv);
    ck_assert_uint_eq(t->attrs[0].basic, KINK_LIFE_SECONDS);
    ck_assert_uint_eq(t->attrs[1].type, KINK_ATTR_SA_LIFE_DURATION);
    ck_assert(!t->attrs[1].tv);
    ck_assert_uint_eq(t->attrs[1].len, 4);
    ck_assert_int_eq(kink_isakmp_attr_uint(&t->attrs[1], &v), 0);
    ck_assert_uint_eq(v, 3600);
    ck_assert_uint_eq(t->attrs[4].type, KINK_ATTR_KEY_LENGTH);
    ck_assert_uint_eq(t->attrs[4].basic, 128);

    p = &sa->proposals[1];
    ck_assert_uint_eq(p->number, 2);
    ck_assert_mem_eq(p->spi, spi2, 4);
    t = &p->transforms[0];
    ck_assert_uint_eq(t->id, KINK_ESP_AES_GCM_16);
    ck_assert_uint_eq(t->n_attrs, 6);

    ck_assert_uint_eq(ch->payloads[1].type, KINK_ISAKMP_PL_NONCE);
    ck_assert_uint_eq(ch->payloads[1].u.nonce.len, 16);
    ck_assert_ptr_eq(ch->payloads[1].u.nonce.data, vec_a + 112);
    ck_assert_uint_eq(ch->payloads[2].type, KINK_ISAKMP_PL_KE);
    ck_assert_uint_eq(ch->payloads[2].u.ke.len, 8);
    ck_assert_uint_eq(ch->payloads[2].u.ke.data[0], 0xa0);

    id = &ch->payloads[3].u.id;
    ck_assert_uint_eq(ch->payloads[3].type, KINK_ISAKMP_PL_ID);
    ck_assert_uint_eq(id->id_type, KINK_ID_IPV4_ADDR);
    ck_assert_uint_eq(id->protocol, 0);
    ck_assert_uint_eq(id->port, 0);
    ck_assert_uint_eq(id->len, 4);
    ck_assert_mem_eq(id->data, "\xc0\x00\x02\x01", 4);
    id = &ch->payloads[4].u.id;
    ck_assert_uint_eq(id->id_type, KINK_ID_IPV4_ADDR_SUBNET);
    ck_assert_uint_eq(id->protocol, 17);
    ck_assert_uint_eq(id->port, 910);
    ck_assert_uint_eq(id->len, 8);
    ck_assert_mem_eq(id->data, "\xc6\x33\x64\x00\xff\xff\xff\x00", 8);
    free(ch);
}
END_TEST

START_TEST(test_vec_a_esp_view)
{
    struct kink_isakmp_chain *ch = malloc(sizeof(*ch));
    const struct kink_isakmp_sa *sa;
    struct kink_isakmp_esp esp;
    const char *why = NULL;

    decode_ok(vec_a, sizeof(vec_a), KINK_ISAKMP_PL_SA, ch);
    sa = ch->payloads[0].u.sa;
    ck_assert_int_eq(kink_isakmp_esp_view(&sa->proposals[0].transforms[0],
                                          &esp, &why), 0);
    ck_assert_uint_eq(esp.transform_id, KINK_ESP_AES_CBC);
    ck_assert_uint_eq(esp.key_bits, 128);
    ck_assert_uint_eq(esp.auth_alg, KINK_AUTH_HMAC_SHA1);
    ck_assert_uint_eq(esp.encap_mode, KINK_ENCAP_TRANSPORT);
    ck_assert_uint_eq(esp.group, 0);
    ck_assert_uint_eq(esp.life_seconds, 3600);
    ck_assert_uint_eq(esp.life_kbytes, 0);

    ck_assert_int_eq(kink_isakmp_esp_view(&sa->proposals[1].transforms[0],
                                          &esp, &why), 0);
    ck_assert_uint_eq(esp.transform_id, KINK_ESP_AES_GCM_16);
    ck_assert_uint_eq(esp.key_bits, 256);
    ck_assert_uint_eq(esp.auth_alg, 0);
    ck_assert_uint_eq(esp.encap_mode, KINK_ENCAP_TUNNEL);
    ck_assert_uint_eq(esp.life_seconds, 3600);
    ck_assert_uint_eq(esp.life_kbytes, 100000);
    free(ch);
}
END_TEST

/* Build vector A from typed values (ESP views through
 * kink_isakmp_esp_attrs) and compare with the hand-written bytes. */
START_TEST(test_vec_a_encode)
{
    static const unsigned char nonce[16] = {
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
    static const unsigned char ke[8] = {
        0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7 };
    static const unsigned char v4[4] = { 192, 0, 2, 1 };
    static const unsigned char v4net[8] = { 198, 51, 100, 0,
                                            255, 255, 255, 0 };
    struct kink_isakmp_esp cbc = { KINK_ESP_AES_CBC, 128,
                                   KINK_AUTH_HMAC_SHA1, KINK_ENCAP_TRANSPORT,
                                   0, 3600, 0 };
    struct kink_isakmp_esp gcm = { KINK_ESP_AES_GCM_16, 256, 0,
                                   KINK_ENCAP_TUNNEL, 0, 3600, 100000 };
    struct kink_isakmp_esp_attrs a1, a2;
    struct kink_isakmp_transform t1, t2;
    struct kink_isakmp_proposal props[2];
    struct kink_isakmp_sa sa;
    struct kink_isakmp_payload pl[5];
    const char *why = NULL;

    ck_assert_int_eq(kink_isakmp_esp_attrs(&cbc, &a1, &why), 0);
    ck_assert_int_eq(kink_isakmp_esp_attrs(&gcm, &a2, &why), 0);
    t1 = (struct kink_isakmp_transform){ 1, KINK_ESP_AES_CBC, a1.n,
                                         a1.attrs };
    t2 = (struct kink_isakmp_transform){ 1, KINK_ESP_AES_GCM_16, a2.n,
                                         a2.attrs };
    props[0] = (struct kink_isakmp_proposal){ 1, KINK_PROTO_IPSEC_ESP, 4,
                                              spi1, 1, &t1 };
    props[1] = (struct kink_isakmp_proposal){ 2, KINK_PROTO_IPSEC_ESP, 4,
                                              spi2, 1, &t2 };
    sa = (struct kink_isakmp_sa){ KINK_DOI_IPSEC, KINK_SIT_IDENTITY_ONLY, 2,
                                  props };
    memset(pl, 0, sizeof(pl));
    pl[0].type = KINK_ISAKMP_PL_SA;
    pl[0].u.sa = &sa;
    pl[1].type = KINK_ISAKMP_PL_NONCE;
    pl[1].u.nonce = (struct kink_isakmp_data){ nonce, sizeof(nonce) };
    pl[2].type = KINK_ISAKMP_PL_KE;
    pl[2].u.ke = (struct kink_isakmp_data){ ke, sizeof(ke) };
    pl[3].type = KINK_ISAKMP_PL_ID;
    pl[3].u.id = (struct kink_isakmp_id){ KINK_ID_IPV4_ADDR, 0, 0, v4, 4 };
    pl[4].type = KINK_ISAKMP_PL_ID;
    pl[4].u.id = (struct kink_isakmp_id){ KINK_ID_IPV4_ADDR_SUBNET, 17, 910,
                                          v4net, 8 };
    encode_eq(pl, 5, vec_a, sizeof(vec_a), KINK_ISAKMP_PL_SA);
}
END_TEST

START_TEST(test_vec_b)
{
    struct kink_isakmp_chain *ch = malloc(sizeof(*ch));
    struct kink_isakmp_payload pl;
    const struct kink_isakmp_id *id;

    decode_ok(vec_b, sizeof(vec_b), KINK_ISAKMP_PL_ID, ch);
    ck_assert_uint_eq(ch->n_payloads, 1);
    id = &ch->payloads[0].u.id;
    ck_assert_uint_eq(id->id_type, KINK_ID_IPV6_ADDR);
    ck_assert_uint_eq(id->protocol, 6);
    ck_assert_uint_eq(id->port, 22);
    ck_assert_uint_eq(id->len, 16);
    ck_assert_ptr_eq(id->data, vec_b + 8);

    memset(&pl, 0, sizeof(pl));
    pl.type = KINK_ISAKMP_PL_ID;
    pl.u.id = (struct kink_isakmp_id){ KINK_ID_IPV6_ADDR, 6, 22,
        (const unsigned char *)"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01",
        16 };
    encode_eq(&pl, 1, vec_b, sizeof(vec_b), KINK_ISAKMP_PL_ID);
    free(ch);
}
END_TEST

START_TEST(test_vec_c)
{
    static const unsigned char ndata[12] = {
        0x80, 0x01, 0x00, 0x01, 0x00, 0x02, 0x00, 0x04,
        0x00, 0x00, 0x07, 0x08 };
    static const unsigned char spis[8] = {
        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };
    struct kink_isakmp_chain *ch = malloc(sizeof(*ch));
    struct kink_isakmp_payload pl[2];
    const struct kink_isakmp_notify *n;
    const struct kink_isakmp_delete *d;

    decode_ok(vec_c, sizeof(vec_c), KINK_ISAKMP_PL_N, ch);
    ck_assert_uint_eq(ch->n_payloads, 2);
    n = &ch->payloads[0].u.notify;
    ck_assert_uint_eq(n->doi, KINK_DOI_IPSEC);
    ck_assert_uint_eq(n->protocol, KINK_PROTO_IPSEC_ESP);
    ck_assert_uint_eq(n->spi_size, 4);
    ck_assert_uint_eq(n->type, 24576);
    ck_assert_mem_eq(n->spi, spi1, 4);
    ck_assert_uint_eq(n->data_len, 12);
    ck_assert_mem_eq(n->data, ndata, 12);
    d = &ch->payloads[1].u.del;
    ck_assert_uint_eq(ch->payloads[1].type, KINK_ISAKMP_PL_D);
    ck_assert_uint_eq(d->doi, KINK_DOI_IPSEC);
    ck_assert_uint_eq(d->protocol, KINK_PROTO_IPSEC_ESP);
    ck_assert_uint_eq(d->spi_size, 4);
    ck_assert_uint_eq(d->n_spis, 2);
    ck_assert_mem_eq(d->spis, spis, 8);

    memset(pl, 0, sizeof(pl));
    pl[0].type = KINK_ISAKMP_PL_N;
    pl[0].u.notify = (struct kink_isakmp_notify){ KINK_DOI_IPSEC,
        KINK_PROTO_IPSEC_ESP, 4, 24576, spi1, ndata, sizeof(ndata) };
    pl[1].type = KINK_ISAKMP_PL_D;
    pl[1].u.del = (struct kink_isakmp_delete){ KINK_DOI_IPSEC,
        KINK_PROTO_IPSEC_ESP, 4, 2, spis };
    encode_eq(pl, 2, vec_c, sizeof(vec_c), KINK_ISAKMP_PL_N);
    free(ch);
}
END_TEST

START_TEST(test_round_trips)
{
    round_trip(vec_a, sizeof(vec_a), KINK_ISAKMP_PL_SA);
    round_trip(vec_b, sizeof(vec_b), KINK_ISAKMP_PL_ID);
    round_trip(vec_c, sizeof(vec_c), KINK_ISAKMP_PL_N);
}
END_TEST

/* Every proper prefix of a valid chain is refused. */
START_TEST(test_truncation)
{
    size_t i;

    for (i = 0; i < sizeof(vec_a); i++)
        refused(vec_a, i, KINK_ISAKMP_PL_SA, NULL);
    for (i = 0; i < sizeof(vec_b); i++)
        refused(vec_b, i, KINK_ISAKMP_PL_ID, NULL);
    for (i = 0; i < sizeof(vec_c); i++)
        refused(vec_c, i, KINK_ISAKMP_PL_N, NULL);
}
END_TEST

/* Change byte off of a copy of vec_a to val and expect a refusal. */
static void
refused_a(size_t off, unsigned char val, const char *want)
{
    unsigned char buf[sizeof(vec_a)];

    memcpy(buf, vec_a, sizeof(buf));
    buf[off] = val;
    refused(buf, sizeof(buf), KINK_ISAKMP_PL_SA, want);
}

START_TEST(test_length_overrun)
{
    /* SA length 109 reaches past the chain... */
    refused(vec_a, 108, KINK_ISAKMP_PL_SA, NULL);
    refused_a(3, 0xff, "overruns");
    /* ...a Proposal or Transform past its SA or Proposal. */
    refused_a(15, 0x2d, NULL);
    refused_a(59, 0x35, "overruns");
    refused_a(27, 0x21, "overruns");
    /* A payload length shorter than the generic header. */
    refused_a(3, 0x03, "shorter than its header");
    /* The last ID's length one short leaves a byte behind. */
    refused_a(155, 0x0f, NULL);
    /* Nonce length past the end of the buffer. */
    refused_a(111, 0xff, "overruns");
}
END_TEST

START_TEST(test_attr_overrun)
{
    /* Life Duration TLV (offset 36) of length 0x20 in a 32-byte
     * transform. */
    refused_a(39, 0x20, "TLV attribute overruns");
    /* A zero-length TLV. */
    refused_a(39, 0x00, "zero-length TLV");
}
END_TEST

START_TEST(test_misc_refusals)
{
    struct kink_isakmp_chain *ch = malloc(sizeof(*ch));

    refused_a(1, 0x01, "RESERVED");                 /* SA RESERVED */
    refused_a(30, 0x01, "RESERVED2");               /* Transform RESERVED2 */
    refused_a(7, 0x02, "DOI");                      /* DOI 2 */
    refused_a(11, 0x02, "situation");               /* SIT_SECRECY */
    refused_a(0, 0x08, "unsupported ISAKMP payload type"); /* HASH next */
    refused_a(12, 0x03, "other than a Proposal");
    refused_a(19, 0x02, "number of transforms");    /* # transforms 2 */
    refused_a(18, 0x08, "not 4 bytes");             /* ESP SPI size 8 */
    refused_a(60, 0x00, "numbers decrease");        /* proposal #0 after #1 */
    refused_a(156, 0x02, "unsupported Identification"); /* ID_FQDN */
    refused_a(144, 0x05, "does not match");         /* IPv6 in 4 bytes */
    refused(vec_a, sizeof(vec_a), KINK_ISAKMP_PL_NONE, "no ISAKMP");
    /* The SA bytes read as an ID payload: ID Type 0. */
    refused(vec_a, sizeof(vec_a), KINK_ISAKMP_PL_ID,
            "unsupported Identification");
    /* Trailing bytes after the last payload. */
    {
        unsigned char buf[sizeof(vec_b) + 1];

        memcpy(buf, vec_b, sizeof(vec_b));
        buf[sizeof(vec_b)] = 0;
        refused(buf, sizeof(buf), KINK_ISAKMP_PL_ID, "bytes after");
    }
    /* Sanity: the unmodified vector still decodes. */
    decode_ok(vec_a, sizeof(vec_a), KINK_ISAKMP_PL_SA, ch);
    free(ch);
}
END_TEST

/* ---- synthetic chains for the count limits ---- */

struct bld {
    unsigned char b[8192];
    size_t n;
};

static void
b8(struct bld *b, unsigned int v)
{
    ck_assert_uint_lt(b->n, sizeof(b->b));
    b->b[b->n++] = (unsigned char)v;
}

static void
b16(struct bld *b, unsigned int v)
{
    b8(b, v >> 8);
    b8(b, v & 0xff);
}

static void
b32(struct bld *b, uint32_t v)
{
    b16(b, v >> 16);
    b16(b, v & 0xffff);
}

static void
patch16(struct bld *b, size_t at, size_t v)
{
    b->b[at] = (unsigned char)(v >> 8);
    b->b[at + 1] = (unsigned char)v;
}

/* One SA payload (the whole chain) with nprop proposals, each with
 * nxform transforms, each with nattr TV Key Length attributes. */
static void
build_sa(struct bld *b, unsigned int nprop, unsigned int nxform,
         unsigned int nattr)
{
    size_t sa_at, p_at, t_at;
    unsigned int i, j, k;

    b->n = 0;
    sa_at = b->n;
    b8(b, 0); b8(b, 0); b16(b, 0);          /* generic header */
    b32(b, KINK_DOI_IPSEC);
    b32(b, KINK_SIT_IDENTITY_ONLY);
    for (i = 0; i < nprop; i++) {
        p_at = b->n;
        b8(b, i + 1 < nprop ? KINK_ISAKMP_PL_P : 0); b8(b, 0); b16(b, 0);
        b8(b, i + 1);                       /* Proposal # */
        b8(b, KINK_PROTO_IPSEC_ESP);
        b8(b, 4);                           /* SPI Size */
        b8(b, nxform);                      /* # of Transforms */
        b32(b, 0x01020304);                 /* SPI */
        for (j = 0; j < nxform; j++) {
            t_at = b->n;
            b8(b, j + 1 < nxform ? KINK_ISAKMP_PL_T : 0); b8(b, 0);
            b16(b, 0);
            b8(b, j + 1);                   /* Transform # */
            b8(b, KINK_ESP_AES_CBC);
            b16(b, 0);                      /* RESERVED2 */
            for (k = 0; k < nattr; k++) {
                b16(b, KINK_ATTR_AF_TV | KINK_ATTR_KEY_LENGTH);
                b16(b, 128);
            }
            patch16(b, t_at + 2, b->n - t_at);
        }
        patch16(b, p_at + 2, b->n - p_at);
    }
    patch16(b, sa_at + 2, b->n - sa_at);
}

static void
limit_case(unsigned int nprop, unsigned int nxform, unsigned int nattr,
           const char *want)
{
    struct kink_isakmp_chain *ch = malloc(sizeof(*ch));
    struct bld *b = malloc(sizeof(*b));

    ck_assert_ptr_nonnull(ch);
    ck_assert_ptr_nonnull(b);
    build_sa(b, nprop, nxform, nattr);
    if (want == NULL) {
        decode_ok(b->b, b->n, KINK_ISAKMP_PL_SA, ch);
        encode_eq(ch->payloads, ch->n_payloads, b->b, b->n,
                  KINK_ISAKMP_PL_SA);
    } else {
        refused(b->b, b->n, KINK_ISAKMP_PL_SA, want);
    }
    free(b);
    free(ch);
}

START_TEST(test_too_many_proposals)
{
    limit_case(KINK_ISAKMP_MAX_PROPOSALS, 1, 0, NULL);
    limit_case(KINK_ISAKMP_MAX_PROPOSALS + 1, 1, 0,
               "too many proposals in an SA");
}
END_TEST

START_TEST(test_too_many_transforms)
{
    limit_case(1, KINK_ISAKMP_MAX_TRANSFORMS, 0, NULL);
    limit_case(1, KINK_ISAKMP_MAX_TRANSFORMS + 1, 0,
               "too many transforms in a proposal");
    /* Within each proposal's limit but past the chain's pool. */
    limit_case(KINK_ISAKMP_POOL_TRANSFORMS / KINK_ISAKMP_MAX_TRANSFORMS + 1,
               KINK_ISAKMP_MAX_TRANSFORMS, 0,
               "too many transforms in the ISAKMP chain");
}
END_TEST

START_TEST(test_too_many_attributes)
{
    limit_case(1, 1, KINK_ISAKMP_MAX_ATTRS, NULL);
    limit_case(1, 1, KINK_ISAKMP_MAX_ATTRS + 1,
               "too many attributes in a transform");
    limit_case(2, KINK_ISAKMP_MAX_TRANSFORMS, KINK_ISAKMP_MAX_ATTRS,
               "too many attributes in the ISAKMP chain");
}
END_TEST

START_TEST(test_too_many_payloads)
{
    struct bld *b = malloc(sizeof(*b));
    unsigned int i, n = KINK_ISAKMP_MAX_PAYLOADS + 1;
    struct kink_isakmp_chain *ch = malloc(sizeof(*ch));

    b->n = 0;
    for (i = 0; i < n; i++) {
        b8(b, i + 1 < n ? KINK_ISAKMP_PL_KE : 0); b8(b, 0); b16(b, 5);
        b8(b, i);
    }
    refused(b->b, b->n, KINK_ISAKMP_PL_KE, "too many ISAKMP payloads");
    /* One fewer is fine. */
    b->n -= 5;
    b->b[b->n - 5] = 0;
    decode_ok(b->b, b->n, KINK_ISAKMP_PL_KE, ch);
    ck_assert_uint_eq(ch->n_payloads, KINK_ISAKMP_MAX_PAYLOADS);
    free(ch);
    free(b);
}
END_TEST

START_TEST(test_empty_payloads)
{
    /* Generic header only. */
    static const unsigned char empty[4] = { 0x00, 0x00, 0x00, 0x04 };
    /* SA with DOI and situation but no proposals. */
    static const unsigned char sa_empty[12] = {
        0x00, 0x00, 0x00, 0x0c, 0, 0, 0, 1, 0, 0, 0, 1 };
    /* Proposal with # of Transforms 0. */
    static const unsigned char prop_empty[24] = {
        0x00, 0x00, 0x00, 0x18, 0, 0, 0, 1, 0, 0, 0, 1,
        0x00, 0x00, 0x00, 0x0c, 0x01, 0x03, 0x04, 0x00, 1, 2, 3, 4 };
    /* Delete with # of SPIs 0. */
    static const unsigned char del_empty[12] = {
        0x00, 0x00, 0x00, 0x0c, 0, 0, 0, 1, 0x03, 0x04, 0x00, 0x00 };
    /* Nonce of 7 bytes. */
    static const unsigned char nonce7[11] = {
        0x00, 0x00, 0x00, 0x0b, 1, 2, 3, 4, 5, 6, 7 };

    refused(empty, 4, KINK_ISAKMP_PL_NONCE, "Nonce shorter");
    refused(empty, 4, KINK_ISAKMP_PL_KE, "empty KE");
    refused(empty, 4, KINK_ISAKMP_PL_SA, "truncated SA");
    refused(empty, 4, KINK_ISAKMP_PL_ID, "truncated Identification");
    refused(empty, 4, KINK_ISAKMP_PL_N, "truncated Notify");
    refused(empty, 4, KINK_ISAKMP_PL_D, "truncated Delete");
    refused(sa_empty, sizeof(sa_empty), KINK_ISAKMP_PL_SA,
            "without proposals");
    refused(prop_empty, sizeof(prop_empty), KINK_ISAKMP_PL_SA,
            "without transforms");
    refused(del_empty, sizeof(del_empty), KINK_ISAKMP_PL_D, "without SPIs");
    refused(nonce7, sizeof(nonce7), KINK_ISAKMP_PL_NONCE, "Nonce shorter");
    refused(NULL, 0, KINK_ISAKMP_PL_SA, "truncated");
}
END_TEST

START_TEST(test_encoder_refusals)
{
    static const unsigned char d[300] = { 0 };
    struct kink_isakmp_payload pl;
    struct kink_isakmp_sa sa = { KINK_DOI_IPSEC, KINK_SIT_IDENTITY_ONLY, 0,
                                 NULL };
    unsigned char small[8];
    const char *why = NULL;
    size_t len = 0;
    uint8_t first;

    memset(&pl, 0, sizeof(pl));
    pl.type = KINK_ISAKMP_PL_NONCE;
    pl.u.nonce = (struct kink_isakmp_data){ d, 7 };
    ck_assert_int_eq(kink_isakmp_encode(&pl, 1, NULL, 0, &len, &first, &why),
                     EINVAL);
    pl.u.nonce.len = 257;
    ck_assert_int_eq(kink_isakmp_encode(&pl, 1, NULL, 0, &len, &first, &why),
                     EINVAL);
    /* Size query, then a buffer too small. */
    pl.u.nonce.len = 32;
    ck_assert_int_eq(kink_isakmp_encode(&pl, 1, NULL, 0, &len, &first, &why),
                     ENOSPC);
    ck_assert_uint_eq(len, 36);
    ck_assert_int_eq(kink_isakmp_encode(&pl, 1, small, sizeof(small), &len,
                                        &first, &why), ENOSPC);
    pl.type = KINK_ISAKMP_PL_SA;
    pl.u.sa = &sa;
    ck_assert_int_eq(kink_isakmp_encode(&pl, 1, NULL, 0, &len, &first, &why),
                     EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "without proposals"));
    pl.type = 8;                            /* HASH */
    ck_assert_int_eq(kink_isakmp_encode(&pl, 1, NULL, 0, &len, &first, &why),
                     EINVAL);
    ck_assert_int_eq(kink_isakmp_encode(&pl, 0, NULL, 0, &len, &first, &why),
                     EINVAL);
}
END_TEST

START_TEST(test_esp_view_refusals)
{
    struct kink_isakmp_attr at[3];
    struct kink_isakmp_transform t = { 1, KINK_ESP_AES_GCM_16, 0, at };
    struct kink_isakmp_esp esp;
    struct kink_isakmp_esp gcm_auth = { KINK_ESP_AES_GCM_16, 128,
                                        KINK_AUTH_HMAC_SHA1, 0, 0, 0, 0 };
    struct kink_isakmp_esp cbc_noauth = { KINK_ESP_AES_CBC, 128, 0, 0, 0, 0,
                                          0 };
    struct kink_isakmp_esp_attrs out;
    const char *why = NULL;

    memset(at, 0, sizeof(at));
    /* No Key Length. */
    ck_assert_int_eq(kink_isakmp_esp_view(&t, &esp, &why), EINVAL);
    /* Life Duration without Life Type. */
    at[0] = (struct kink_isakmp_attr){ KINK_ATTR_KEY_LENGTH, 1, 128, NULL, 0 };
    at[1] = (struct kink_isakmp_attr){ KINK_ATTR_SA_LIFE_DURATION, 1, 60,
                                       NULL, 0 };
    t.n_attrs = 2;
    ck_assert_int_eq(kink_isakmp_esp_view(&t, &esp, &why), EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "without a Life Type"));
    /* Duplicate Key Length. */
    at[1] = at[0];
    ck_assert_int_eq(kink_isakmp_esp_view(&t, &esp, &why), EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "duplicate"));
    /* Key length 64. */
    at[0].basic = 64;
    t.n_attrs = 1;
    ck_assert_int_eq(kink_isakmp_esp_view(&t, &esp, &why), EINVAL);
    /* Valid: GCM 128, life duration as TV. */
    at[0].basic = 128;
    at[1] = (struct kink_isakmp_attr){ KINK_ATTR_SA_LIFE_TYPE, 1, 1, NULL, 0 };
    at[2] = (struct kink_isakmp_attr){ KINK_ATTR_SA_LIFE_DURATION, 1, 600,
                                       NULL, 0 };
    t.n_attrs = 3;
    ck_assert_int_eq(kink_isakmp_esp_view(&t, &esp, &why), 0);
    ck_assert_uint_eq(esp.life_seconds, 600);
    /* The builder refuses what the view refuses. */
    ck_assert_int_eq(kink_isakmp_esp_attrs(&gcm_auth, &out, &why), EINVAL);
    ck_assert_int_eq(kink_isakmp_esp_attrs(&cbc_noauth, &out, &why), EINVAL);
}
END_TEST

static Suite *
suite(void)
{
    Suite *s = suite_create("kink_isakmp");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_vec_a_decode);
    tcase_add_test(tc, test_vec_a_esp_view);
    tcase_add_test(tc, test_vec_a_encode);
    tcase_add_test(tc, test_vec_b);
    tcase_add_test(tc, test_vec_c);
    tcase_add_test(tc, test_round_trips);
    tcase_add_test(tc, test_truncation);
    tcase_add_test(tc, test_length_overrun);
    tcase_add_test(tc, test_attr_overrun);
    tcase_add_test(tc, test_misc_refusals);
    tcase_add_test(tc, test_too_many_proposals);
    tcase_add_test(tc, test_too_many_transforms);
    tcase_add_test(tc, test_too_many_attributes);
    tcase_add_test(tc, test_too_many_payloads);
    tcase_add_test(tc, test_empty_payloads);
    tcase_add_test(tc, test_encoder_refusals);
    tcase_add_test(tc, test_esp_view_refusals);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return unit_run(suite());
}
