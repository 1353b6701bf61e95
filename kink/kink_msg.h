/*
 * KINK (RFC 4430) message and payload codec.
 *
 * A KINK message (RFC 4430 section 4) is a 16-octet header, a chain of
 * payloads, and an optional Kerberos checksum at the end:
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------+-------+-------+-------------------------------+
 *  |     Type      | MjVer |RESRVED|            Length             |
 *  +---------------+-------+-------+-------------------------------+
 *  |                 Domain of Interpretation (DOI)                |
 *  +---------------------------------------------------------------+
 *  |                      Transaction ID (XID)                     |
 *  +---------------+-+-------------+-------------------------------+
 *  |  NextPayload  |A|  RESERVED   |           CksumLen            |
 *  +---------------+-+-------------+-------------------------------+
 *  ~  payloads, each starting on a 4-octet boundary                ~
 *  +---------------------------------------------------------------+
 *  ~  zero padding to a 4-octet boundary, then Cksum (CksumLen)    ~
 *  +---------------------------------------------------------------+
 *
 * Every payload starts with Next Payload (1), RESERVED (1) and Payload
 * Length (2); Payload Length counts those 4 octets and the body but not
 * the zero padding that brings the next payload to a 4-octet boundary
 * (RFC 4430 section 4.1).  Bodies (section 4.2):
 *
 *   KINK_AP_REQ, KINK_AP_REP  EPOCH (4), then the KRB_AP_REQ / KRB_AP_REP
 *   KINK_KRB_ERROR            the KRB-ERROR
 *   KINK_TGT_REQ              PrincNameLength (2), PrincName (the responder's
 *                             principal name with realm, as a string)
 *   KINK_TGT_REP              the TGT (DER Ticket)
 *   KINK_ISAKMP               InnerNextPload (1), QMMaj (4 bits) | QMMin
 *                             (4 bits), RESERVED (2), then ISAKMP payloads
 *                             (opaque here; kink_isakmp.h decodes them)
 *   KINK_ENCRYPT              ciphertext of: InnerNextPload (1),
 *                             RESERVED (3), an inner payload chain
 *                             (kink_msg_decode_inner() reads it once the
 *                             caller has decrypted it, key usage KINK_KU_ENCRYPT)
 *   KINK_ERROR                ErrorCode (4)
 *
 * Decoded structures are zero-copy: every pointer in them points into the
 * buffer given to the decoder, which must outlive them.  Reserved fields
 * and padding are ignored on receipt and written as zero, as section 4
 * says; a decoded message records whether its input was in the exact form
 * the encoder produces (canonical).
 */
#ifndef KINK_MSG_H
#define KINK_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <krb5/krb5.h>

/* UDP port (RFC 4430 section 4, IANA). */
#define KINK_PORT 910

/*
 * Protocol version (RFC 4430 section 4): MjVer MUST be 1.  The published
 * RFC has no minor version field: the low 4 bits of that octet are
 * RESRVED (drafts called them MnVer, and racoon2 still refuses a non-zero
 * value there with KINK_INVMIN; we ignore them, as for any reserved bits).
 */
#define KINK_MJVER 1

/* Quick Mode version in KINK_ISAKMP (RFC 4430 section 4.2.6). */
#define KINK_QMMAJ 1
#define KINK_QMMIN 0

/* DOI of the IPsec DOI (RFC 2407), the only one KINK uses here. */
#define KINK_DOI_IPSEC 1

/* Message types (RFC 4430 section 4, field Type). */
#define KINK_MSG_RESERVED 0
#define KINK_MSG_CREATE   1
#define KINK_MSG_DELETE   2
#define KINK_MSG_REPLY    3
#define KINK_MSG_GETTGT   4
#define KINK_MSG_ACK      5
#define KINK_MSG_STATUS   6
/* 7-127 reserved to IANA, 128-255 private use. */

/* The A (ACKREQ) bit of the header's flags octet (RFC 4430 section 4). */
#define KINK_FLAG_ACKREQ 0x80

/* Payload types (RFC 4430 section 4.2, field Next Payload). */
#define KINK_DONE           0
#define KINK_AP_REQ         1
#define KINK_AP_REP         2
#define KINK_KRB_ERROR      3
#define KINK_TGT_REQ        4
#define KINK_TGT_REP        5
#define KINK_ISAKMP         6
#define KINK_ENCRYPT        7
#define KINK_ERROR          8
/* 9-127 reserved to IANA, 128-255 private use. */
#define KINK_PAYLOAD_TYPE_MAX KINK_ERROR

/* KINK_ERROR codes (RFC 4430 section 4.2.8). */
#define KINK_OK          0   /* no error detected */
#define KINK_PROTOERR    1   /* the message was malformed */
#define KINK_INVDOI      2   /* invalid DOI */
#define KINK_INVMAJ      3   /* invalid major version */
#define KINK_INVMIN      4   /* invalid minor version */
#define KINK_INTERR      5   /* an unrecoverable internal error */
#define KINK_BADQMVERS   6   /* unsupported Quick Mode version */
/* 7-8191 reserved to IANA, 8192-16383 private use. */

/* The key usages of the KINK checksum and of KINK_ENCRYPT are
 * KINK_KU_CKSUM and KINK_KU_ENCRYPT in kink_keymat.h (one definition;
 * see doc/kink-design.md for the open question about their values). */

#define KINK_HEADER_LEN          16
#define KINK_PAYLOAD_HEADER_LEN   4
/* Largest message: Length is 16 bits. */
#define KINK_MSG_MAX_LEN     65535

/*
 * At most this many payloads in one chain.  Every type may appear at most
 * once per chain (a KINK message has one AP-REQ or AP-REP, one ISAKMP
 * block, one error ...), so a valid chain has at most one of each of the
 * eight types.
 */
#define KINK_MSG_MAX_PAYLOADS 8

/* One payload.  data/data_len is the variable part named in the table at
 * the top of this file; the fixed fields are set for their types only. */
struct kink_payload {
    uint8_t type;               /* KINK_AP_REQ ... KINK_ERROR */
    uint32_t epoch;             /* KINK_AP_REQ, KINK_AP_REP */
    uint32_t error_code;        /* KINK_ERROR */
    uint8_t inner_next;         /* KINK_ISAKMP: first ISAKMP payload type */
    uint8_t qm_maj, qm_min;     /* KINK_ISAKMP: Quick Mode version */
    const uint8_t *data;        /* see above; NULL when data_len is 0 */
    size_t data_len;
};

/* A payload chain (the outer chain of a message, or the inner chain of a
 * decrypted KINK_ENCRYPT). */
struct kink_chain {
    size_t n;
    struct kink_payload p[KINK_MSG_MAX_PAYLOADS];
};

/* A message.  The encoder reads type, doi, xid, ackreq and chain; the
 * decoder fills everything. */
struct kink_msg {
    uint8_t type;               /* KINK_MSG_* */
    uint8_t mjver;              /* decoded; always 1 when decode succeeds */
    uint32_t doi;
    uint32_t xid;
    int ackreq;                 /* the A flag */
    struct kink_chain chain;

    /* Set by the decoder. */
    size_t len;                 /* the Length field (octets of buf used) */
    size_t cksum_off;           /* offset of Cksum; == len when absent */
    size_t cksum_len;           /* CksumLen */
    const uint8_t *cksum;       /* buf + cksum_off, NULL when CksumLen is 0 */
    int canonical;              /* input is exactly what the encoder makes */
    uint32_t kink_error;        /* on failure: KINK_ERROR code to answer */
};

/*
 * Decode the message in buf (len octets, a whole UDP datagram).  Checks:
 * the header fits; MjVer is 1 (else EINVAL with kink_error KINK_INVMAJ);
 * Type is CREATE .. STATUS; Length covers the header and no more than
 * len (octets after Length are ignored: section 4 allows them); CksumLen
 * fits; every payload length and the 4-octet alignment; payload types are
 * known (an unknown type is KINK_PROTOERR: KINK has no critical bit and
 * RFC 4430 defines no way to skip one, racoon2 refuses them too); each
 * type at most once; KINK_ENCRYPT is the last payload; at most
 * KINK_MSG_MAX_PAYLOADS payloads; the chain ends exactly where the
 * checksum (after padding) or the message begins.  The DOI and the A flag
 * are reported, not judged: the caller answers KINK_INVDOI; so is the
 * Quick Mode version of KINK_ISAKMP (the caller answers KINK_BADQMVERS).
 *
 * On failure returns EINVAL, sets *why (may be NULL) to a short static
 * reason, out->kink_error to the KINK_ERROR code to answer (KINK_PROTOERR
 * unless stated above), and when the header was readable out->type and
 * out->xid so the caller can answer.  Zero-copy: out points into buf.
 */
krb5_error_code kink_msg_decode(const uint8_t *buf, size_t len,
                                struct kink_msg *out, const char **why);

/*
 * Decode the plaintext of a KINK_ENCRYPT payload (after krb5_c_decrypt
 * with key usage KINK_KU_ENCRYPT): InnerNextPload, 3 reserved octets, then a payload
 * chain with the same rules as the outer one, except that KINK_AP_REQ,
 * KINK_AP_REP and KINK_ENCRYPT may not appear inside.  Trailing zero
 * octets after the chain (cipher padding) are accepted.  Zero-copy into
 * plain.  *canonical (may be NULL) is set to 1 when plain is exactly what
 * kink_msg_encode_inner() makes.
 */
krb5_error_code kink_msg_decode_inner(const uint8_t *plain, size_t len,
                                      struct kink_chain *out,
                                      int *canonical, const char **why);

/*
 * Encode msg (type, doi, xid, ackreq, chain) into a new buffer: MjVer 1,
 * reserved bits zero, payloads each padded with zeros to 4 octets, then
 * cksum_len zero octets for the checksum (0: no checksum).  Returns the
 * malloc'ed buffer in *out_buf, its length in *out_len and the checksum
 * offset in *cksum_off (== *out_len - cksum_len).  EINVAL if the chain
 * would not decode (unknown type, duplicate, KINK_ENCRYPT not last, a
 * field too long) or the message exceeds 65535 octets; ENOMEM.
 */
krb5_error_code kink_msg_encode(const struct kink_msg *msg, size_t cksum_len,
                                uint8_t **out_buf, size_t *out_len,
                                size_t *cksum_off);

/*
 * Encode the plaintext of a KINK_ENCRYPT payload: InnerNextPload (the
 * first payload's type), 3 zero octets, then chain with padding.  The
 * caller encrypts it (key usage KINK_KU_ENCRYPT) and puts the ciphertext in a
 * KINK_ENCRYPT payload's data.
 */
krb5_error_code kink_msg_encode_inner(const struct kink_chain *chain,
                                      uint8_t **out_buf, size_t *out_len);

/*
 * How the checksum input is formed.  RFC 4430 section 4: "Kerberos keyed
 * checksum over the entire message excluding the Cksum field itself",
 * padding before Cksum included: octets [0, cksum_off) as sent.  racoon2's
 * kinkd instead computes it with Length set to cksum_off and CksumLen set
 * to 0 in the header (kink_fmt.c, setpl_finalize); a per-peer
 * compatibility setting can select that.
 */
enum kink_cksum_mode {
    KINK_CKSUM_RFC4430 = 0,
    KINK_CKSUM_RACOON2 = 1
};

/*
 * The input of the KINK checksum of the encoded or decoded message in buf,
 * as iovecs for krb5_c_make_checksum_iov() / krb5_c_verify_checksum_iov()
 * with key usage KINK_KU_CKSUM: iov[0 .. n-2] are
 * KRB5_CRYPTO_TYPE_DATA, iov[n-1] is KRB5_CRYPTO_TYPE_CHECKSUM over the
 * Cksum field in buf (make_checksum_iov writes it in place).  In racoon2
 * mode the header is a patched copy in out->hdr, so out must not be moved
 * or copied while the iovecs are used.  buf must hold a message that
 * kink_msg_decode() accepts or kink_msg_encode() made, with CksumLen > 0;
 * else EINVAL.
 */
struct kink_cksum_input {
    krb5_crypto_iov iov[3];
    size_t n;
    uint8_t hdr[KINK_HEADER_LEN];
};
krb5_error_code kink_msg_cksum_input(uint8_t *buf, size_t len,
                                     enum kink_cksum_mode mode,
                                     struct kink_cksum_input *out);

/* Copy the checksum (ck_len octets, which must equal the message's
 * CksumLen) into the Cksum field of the encoded message in buf. */
krb5_error_code kink_msg_set_cksum(uint8_t *buf, size_t len,
                                   const uint8_t *ck, size_t ck_len);

/* The first payload of type in chain, or NULL. */
const struct kink_payload *kink_chain_find(const struct kink_chain *chain,
                                           uint8_t type);

/* Names for logs: "CREATE", "KINK_AP_REQ", "KINK_PROTOERR"; "unknown". */
const char *kink_msg_type_name(uint8_t type);
const char *kink_payload_type_name(uint8_t type);
const char *kink_error_name(uint32_t code);

#endif
