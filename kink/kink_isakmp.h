/*
 * The IKEv1 Quick Mode payloads that KINK carries inside KINK_ISAKMP
 * (RFC 4430 section 4.2.5): SA with Proposal and Transform payloads, Nonce,
 * KE, Identification, Notify and Delete, in the formats of RFC 2408
 * section 3 with the IPsec DOI values of RFC 2407 section 4.
 *
 * The KINK_ISAKMP header (InnerNextPload, QMMaj, QMMin) belongs to the KINK
 * message codec (kink_msg.h); this codec takes the bytes that follow it:
 * exactly the Quick Mode payloads (KINK_ISAKMP Payload Length - 8, no KINK
 * padding) and the type of the first one (InnerNextPload).
 *
 * Every payload starts with the ISAKMP generic header:
 *
 *   Next Payload (1) | RESERVED (1, zero) | Payload Length (2, incl. header)
 *
 * Decoding is zero-copy: every pointer in a decoded chain points into the
 * input buffer (keep it alive and unchanged while the chain is used) or
 * into the chain's own pools (so never copy a struct kink_isakmp_chain by
 * value; pass it by pointer).  Nothing is allocated.  The decoder refuses
 * anything malformed with EINVAL and a static reason string.
 *
 * The encoder takes the same structures (pointers may point anywhere) and
 * refuses, with EINVAL and a reason, anything the decoder would refuse, so
 * that what it writes always decodes back to the same chain.
 */
#ifndef KINK_ISAKMP_H
#define KINK_ISAKMP_H

#include <stddef.h>
#include <stdint.h>
#include <krb5/krb5.h>

/* ISAKMP payload types (RFC 2408 section 3.1). */
#define KINK_ISAKMP_PL_NONE         0
#define KINK_ISAKMP_PL_SA           1
#define KINK_ISAKMP_PL_P            2   /* only inside SA */
#define KINK_ISAKMP_PL_T            3   /* only inside Proposal */
#define KINK_ISAKMP_PL_KE           4
#define KINK_ISAKMP_PL_ID           5
#define KINK_ISAKMP_PL_NONCE        10
#define KINK_ISAKMP_PL_N            11
#define KINK_ISAKMP_PL_D            12

#define KINK_ISAKMP_GENERIC_HDR_LEN 4

/* Domain of interpretation (RFC 2408 section 3.4, RFC 2407 section 4.2). */
#define KINK_DOI_ISAKMP             0   /* Notify/Delete only */
#define KINK_DOI_IPSEC              1
/* IPsec DOI situation bits (RFC 2407 section 4.2). */
#define KINK_SIT_IDENTITY_ONLY      0x01

/* IPsec security protocol identifiers (RFC 2407 section 4.4.1). */
#define KINK_PROTO_ISAKMP           1
#define KINK_PROTO_IPSEC_AH         2
#define KINK_PROTO_IPSEC_ESP        3
#define KINK_PROTO_IPCOMP           4

/* ESP transform identifiers (RFC 2407 section 4.4.4, RFC 3602, RFC 4106). */
#define KINK_ESP_AES_CBC            12
#define KINK_ESP_AES_GCM_16         20

/* IPsec SA attribute types (RFC 2407 section 4.5); B basic, V variable. */
#define KINK_ATTR_SA_LIFE_TYPE      1   /* B */
#define KINK_ATTR_SA_LIFE_DURATION  2   /* V */
#define KINK_ATTR_GROUP_DESC        3   /* B */
#define KINK_ATTR_ENCAP_MODE        4   /* B */
#define KINK_ATTR_AUTH_ALG          5   /* B */
#define KINK_ATTR_KEY_LENGTH        6   /* B */
#define KINK_ATTR_KEY_ROUNDS        7   /* B */
/* The top bit of the attribute type word: 1 = TV (basic) form. */
#define KINK_ATTR_AF_TV             0x8000

/* SA Life Type values. */
#define KINK_LIFE_SECONDS           1
#define KINK_LIFE_KILOBYTES         2
/* Encapsulation Mode values. */
#define KINK_ENCAP_TUNNEL           1
#define KINK_ENCAP_TRANSPORT        2
/* Authentication Algorithm values (IANA "IPsec DOI authentication
 * algorithm" registry: 2 HMAC-SHA, 5 HMAC-SHA2-256 per RFC 4868). */
#define KINK_AUTH_HMAC_SHA1         2
#define KINK_AUTH_HMAC_SHA2_256     5
/* Group Description values (IKEv1 Oakley groups, RFC 3526, RFC 5903). */
#define KINK_GROUP_MODP_2048        14
#define KINK_GROUP_ECP_256          19

/* Identification types (RFC 2407 section 4.6.2.1); the ones KINK uses. */
#define KINK_ID_IPV4_ADDR           1
#define KINK_ID_IPV4_ADDR_SUBNET    4
#define KINK_ID_IPV6_ADDR           5
#define KINK_ID_IPV6_ADDR_SUBNET    6

/* Nonce data length bounds (RFC 2409 section 5). */
#define KINK_NONCE_MIN              8
#define KINK_NONCE_MAX              256

/* Bounds on what one chain may hold.  Per item limits first. */
#define KINK_ISAKMP_MAX_PAYLOADS    16  /* payloads in one chain */
#define KINK_ISAKMP_MAX_SA          2   /* SA payloads in one chain */
#define KINK_ISAKMP_MAX_PROPOSALS   8   /* proposals in one SA */
#define KINK_ISAKMP_MAX_TRANSFORMS  16  /* transforms in one proposal */
#define KINK_ISAKMP_MAX_ATTRS       16  /* attributes in one transform */
#define KINK_ISAKMP_MAX_SPI         16  /* SPI size in bytes */
/* ... and pools shared by the whole chain. */
#define KINK_ISAKMP_POOL_PROPOSALS  16
#define KINK_ISAKMP_POOL_TRANSFORMS 64
#define KINK_ISAKMP_POOL_ATTRS      256

/* One SA attribute (RFC 2408 section 3.3). */
struct kink_isakmp_attr {
    uint16_t type;          /* without the AF bit */
    int tv;                 /* nonzero: TV (basic) form, value in basic */
    uint16_t basic;
    const unsigned char *value;   /* TLV form: 1..65535 bytes */
    size_t len;
};

/* A Transform payload (RFC 2408 section 3.6). */
struct kink_isakmp_transform {
    uint8_t number;
    uint8_t id;             /* e.g. KINK_ESP_AES_CBC */
    size_t n_attrs;         /* 0..KINK_ISAKMP_MAX_ATTRS */
    const struct kink_isakmp_attr *attrs;
};

/* A Proposal payload (RFC 2408 section 3.5).  Proposals with the same
 * number are one combined proposal (AND), distinct numbers alternatives. */
struct kink_isakmp_proposal {
    uint8_t number;
    uint8_t protocol;       /* KINK_PROTO_* */
    uint8_t spi_size;       /* 4 for AH and ESP; 0..KINK_ISAKMP_MAX_SPI */
    const unsigned char *spi;
    size_t n_transforms;    /* 1..KINK_ISAKMP_MAX_TRANSFORMS */
    const struct kink_isakmp_transform *transforms;
};

/* An SA payload (RFC 2408 section 3.4, RFC 2407 section 4.6.1): DOI IPsec,
 * situation SIT_IDENTITY_ONLY (the only ones accepted). */
struct kink_isakmp_sa {
    uint32_t doi;
    uint32_t situation;
    size_t n_proposals;     /* 1..KINK_ISAKMP_MAX_PROPOSALS */
    const struct kink_isakmp_proposal *proposals;
};

/* KE (RFC 2408 section 3.7) and Nonce (3.13): opaque, non-empty data; a
 * Nonce has KINK_NONCE_MIN..KINK_NONCE_MAX bytes. */
struct kink_isakmp_data {
    const unsigned char *data;
    size_t len;
};

/* Identification (RFC 2407 section 4.6.2).  data holds the address (4 or
 * 16 bytes) or address and mask (8 or 32 bytes) for the four ID types
 * above; other ID types are refused. */
struct kink_isakmp_id {
    uint8_t id_type;
    uint8_t protocol;       /* IP protocol, 0 = any */
    uint16_t port;          /* 0 = any */
    const unsigned char *data;
    size_t len;
};

/* Notify (RFC 2408 section 3.14); DOI 0 or 1. */
struct kink_isakmp_notify {
    uint32_t doi;
    uint8_t protocol;
    uint8_t spi_size;       /* 0..KINK_ISAKMP_MAX_SPI */
    uint16_t type;
    const unsigned char *spi;
    const unsigned char *data;  /* may be empty */
    size_t data_len;
};

/* Delete (RFC 2408 section 3.15); DOI 0 or 1, at least one SPI, the SPIs
 * back to back (n_spis * spi_size bytes at spis). */
struct kink_isakmp_delete {
    uint32_t doi;
    uint8_t protocol;
    uint8_t spi_size;       /* 1..KINK_ISAKMP_MAX_SPI; 4 for AH and ESP */
    uint16_t n_spis;        /* >= 1 */
    const unsigned char *spis;
};

struct kink_isakmp_payload {
    uint8_t type;           /* KINK_ISAKMP_PL_* */
    /* Decoded payloads: the whole payload, generic header included, in the
     * input buffer.  Ignored by the encoder. */
    const unsigned char *raw;
    size_t raw_len;
    union {
        const struct kink_isakmp_sa *sa;    /* PL_SA */
        struct kink_isakmp_data ke;         /* PL_KE */
        struct kink_isakmp_data nonce;      /* PL_NONCE */
        struct kink_isakmp_id id;           /* PL_ID */
        struct kink_isakmp_notify notify;   /* PL_N */
        struct kink_isakmp_delete del;      /* PL_D */
    } u;
};

/* A decoded chain: payloads in wire order, and the pools the SA views
 * point into. */
struct kink_isakmp_chain {
    size_t n_payloads;
    struct kink_isakmp_payload payloads[KINK_ISAKMP_MAX_PAYLOADS];
    size_t n_sa, n_prop, n_xform, n_attr;       /* pool use */
    struct kink_isakmp_sa sa_pool[KINK_ISAKMP_MAX_SA];
    struct kink_isakmp_proposal prop_pool[KINK_ISAKMP_POOL_PROPOSALS];
    struct kink_isakmp_transform xform_pool[KINK_ISAKMP_POOL_TRANSFORMS];
    struct kink_isakmp_attr attr_pool[KINK_ISAKMP_POOL_ATTRS];
};

/*
 * Decode the len bytes at buf, a chain of ISAKMP payloads whose first one
 * has type first_type (InnerNextPload), into *out.  The chain must fill
 * buf exactly and hold at least one payload.  Return 0, or EINVAL with
 * *reason (may be NULL) set to a short static description.
 */
krb5_error_code kink_isakmp_decode(const unsigned char *buf, size_t len,
                                   uint8_t first_type,
                                   struct kink_isakmp_chain *out,
                                   const char **reason);

/*
 * Encode the n payloads at pl into buf (cap bytes; buf may be NULL with cap
 * 0 to learn the size).  *len_out gets the encoded length (also on
 * ENOSPC), *first_type_out the first payload's type (for InnerNextPload).
 * Return 0, ENOSPC if cap is too small, or EINVAL with *reason when the
 * chain would not decode.
 */
krb5_error_code kink_isakmp_encode(const struct kink_isakmp_payload *pl,
                                   size_t n, unsigned char *buf, size_t cap,
                                   size_t *len_out, uint8_t *first_type_out,
                                   const char **reason);

/* As kink_isakmp_encode, into out (allocated; krb5_free_data_contents). */
krb5_error_code kink_isakmp_encode_alloc(const struct kink_isakmp_payload *pl,
                                         size_t n, krb5_data *out,
                                         uint8_t *first_type_out,
                                         const char **reason);

/* The attribute's value as an integer: the TV value, or a TLV value of 1..8
 * bytes big-endian.  Return 0 (and set *out), or EINVAL. */
krb5_error_code kink_isakmp_attr_uint(const struct kink_isakmp_attr *a,
                                      uint64_t *out);

/*
 * A typed view of an ESP transform for KINK: AES-CBC (key length 128, 192
 * or 256, authentication HMAC-SHA1 or HMAC-SHA2-256) or AES-GCM-16 (key
 * length 128, 192 or 256, no authentication attribute, RFC 4106 section
 * 8.1), encapsulation mode, optional PFS group and lifetimes.  Fields not
 * present are 0.
 */
struct kink_isakmp_esp {
    uint8_t transform_id;   /* KINK_ESP_AES_CBC or KINK_ESP_AES_GCM_16 */
    uint16_t key_bits;
    uint16_t auth_alg;      /* 0 for GCM */
    uint16_t encap_mode;    /* KINK_ENCAP_TUNNEL or KINK_ENCAP_TRANSPORT */
    uint16_t group;         /* 0: no PFS */
    uint32_t life_seconds;  /* 0: absent */
    uint32_t life_kbytes;   /* 0: absent */
};

/* Read transform t (of an ESP proposal) into *out.  EINVAL with *reason
 * for unknown transforms or attributes, duplicates, a life duration not
 * preceded by its life type, or values KINK does not support. */
krb5_error_code kink_isakmp_esp_view(const struct kink_isakmp_transform *t,
                                     struct kink_isakmp_esp *out,
                                     const char **reason);

/* Attributes for a transform, built from an ESP view by
 * kink_isakmp_esp_attrs; the TLV life durations point into life[]. */
struct kink_isakmp_esp_attrs {
    size_t n;
    struct kink_isakmp_attr attrs[8];
    unsigned char life[2][4];
};

/* Fill *out with the attributes for esp, in the order life type (seconds),
 * duration, life type (kilobytes), duration, encapsulation mode,
 * authentication algorithm, key length, group description; durations as
 * 4-byte TLV, the rest TV.  EINVAL if kink_isakmp_esp_view would refuse
 * the result.  Note: out->attrs points into *out, so do not copy it. */
krb5_error_code kink_isakmp_esp_attrs(const struct kink_isakmp_esp *esp,
                                      struct kink_isakmp_esp_attrs *out,
                                      const char **reason);

#endif
