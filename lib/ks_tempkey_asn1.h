/*
 * The tempkey messages (doc/tempkey-protocol.md), DER through OpenSSL's
 * ASN.1 templates like ks_asn1.c (no hand-written DER).  Module
 * (experimental OIDs, see ks_iana.h), EXPLICIT tags:
 *
 *   TempkeyMessage ::= CHOICE {          -- KS_PA_TEMPKEY padata value
 *       challenge [0] TempkeyChallenge,  -- KDC: e-data of PREAUTH_REQUIRED
 *       request   [1] TempkeyRequest,    -- server: AS-REQ padata
 *       reply     [2] TempkeyReply,      -- KDC: AS-REP padata
 *       error     [3] TempkeyError       -- KDC: e-data of a refusal
 *   }
 *   TempkeyChallenge ::= SEQUENCE {
 *       freshness-token [0] OCTET STRING,   -- 0..KS_DEVREG_MAX_TOKEN
 *       max-life        [1] INTEGER (1..2^31-1),   -- tempkey_max_life, s
 *       kdc-certificate [2] OCTET STRING OPTIONAL, -- DER, the certificate
 *                                           -- the keys are sealed to
 *       enctypes        [3] SEQUENCE (SIZE(1..KS_TEMPKEY_MAX_KEYS)) OF
 *                               INTEGER OPTIONAL  -- the realm's enctypes,
 *                                           -- the KDC's preference order
 *   }
 *   TempkeyRequest ::= SEQUENCE {
 *       signed-request  [0] OCTET STRING    -- DER ContentInfo(SignedData)
 *                                           -- eContentType
 *                                           -- KS_OID_TEMPKEY_REQUEST,
 *                                           -- eContent DER TempkeyRequestBody
 *   }
 *   TempkeyRequestBody ::= SEQUENCE {
 *       version         [0] INTEGER,        -- KS_TEMPKEY_VERSION
 *       principal       [1] UTF8String,     -- unparsed, with realm
 *       freshness-token [2] OCTET STRING,   -- from the challenge (may be
 *                                           -- empty: refused as missing)
 *       req-body-hash   [3] OCTET STRING (SIZE(32)),  -- SHA-256 of the
 *                                           -- AS-REQ's KDC-REQ-BODY
 *       key-id          [4] INTEGER (1..65535),
 *       expiry          [5] INTEGER,        -- POSIX time
 *       sealed-keys     [6] OCTET STRING    -- DER ContentInfo(EnvelopedData)
 *                                           -- to the KDC certificate whose
 *                                           -- content is DER TempkeyKeys
 *   }
 *   TempkeyKeys ::= SEQUENCE (SIZE(1..KS_TEMPKEY_MAX_KEYS)) OF TempkeyKey
 *   TempkeyKey ::= SEQUENCE {
 *       enctype [0] INTEGER,
 *       key     [1] OCTET STRING            -- 1..KS_TEMPKEY_MAX_KEY_LEN
 *   }
 *   TempkeyReply ::= SEQUENCE {
 *       key-id    [0] INTEGER (1..65535),
 *       expiry    [1] INTEGER,              -- as stored by the KDC
 *       renew-by  [2] INTEGER,              -- register the next key before
 *       cksumtype [3] INTEGER,
 *       checksum  [4] OCTET STRING          -- krb5_c_make_checksum, the new
 *                                           -- key of the reply's enctype,
 *                                           -- KS_KEYUSAGE_TEMPKEY_REPLY,
 *                                           -- over DER TempkeyReplyBody
 *   }
 *   TempkeyReplyBody ::= SEQUENCE {
 *       key-id [0] INTEGER, expiry [1] INTEGER, renew-by [2] INTEGER,
 *       req-body-hash [3] OCTET STRING (SIZE(32))  -- of the request
 *   }
 *   TempkeyError ::= SEQUENCE {
 *       code [0] INTEGER,                   -- KS_TEMPKEY_E_*
 *       text [1] UTF8String OPTIONAL        -- 0..KS_DEVREG_MAX_TEXT
 *   }
 *
 * Decoders refuse trailing bytes, input over KS_ASN1_MAX_INPUT, values
 * outside the ranges above, and return ASN1_PARSE_ERROR (EINVAL for bad
 * arguments, ENOMEM).  Decoded structures are heap-allocated; free them
 * with the matching _free function (which zeroes key bytes).
 */
#ifndef KS_TEMPKEY_ASN1_H
#define KS_TEMPKEY_ASN1_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <krb5/krb5.h>

#include "ks_asn1.h"
#include "ks_iana.h"

#define KS_TEMPKEY_MAX_KEYS     16
#define KS_TEMPKEY_MAX_KEY_LEN  64
#define KS_TEMPKEY_MAX_CMS      32768   /* signed-request, sealed-keys,
                                         * kdc-certificate */

struct ks_tempkey_challenge {
    krb5_data freshness_token;
    int32_t max_life;
    krb5_data kdc_cert;         /* length 0 when absent */
    krb5_enctype *enctypes;     /* NULL (nenctypes 0) when absent */
    size_t nenctypes;
};

struct ks_tempkey_request {
    krb5_data signed_request;
};

struct ks_tempkey_key {
    krb5_enctype enctype;
    krb5_data key;
};

struct ks_tempkey_keys {
    size_t n;
    struct ks_tempkey_key *keys;
};

struct ks_tempkey_request_body {
    int32_t version;
    char *principal;
    krb5_data freshness_token;
    unsigned char req_body_hash[KS_SHA256_LEN];
    uint32_t key_id;
    time_t expiry;
    krb5_data sealed_keys;
};

struct ks_tempkey_reply {
    uint32_t key_id;
    time_t expiry;
    time_t renew_by;
    int32_t cksumtype;
    krb5_data checksum;
};

struct ks_tempkey_reply_body {
    uint32_t key_id;
    time_t expiry;
    time_t renew_by;
    unsigned char req_body_hash[KS_SHA256_LEN];
};

struct ks_tempkey_error {
    int32_t code;
    char *text;                 /* NULL when absent */
};

enum ks_tempkey_msg_type {
    KS_TEMPKEY_MSG_CHALLENGE = 0,  /* the values are the CHOICE tags */
    KS_TEMPKEY_MSG_REQUEST = 1,
    KS_TEMPKEY_MSG_REPLY = 2,
    KS_TEMPKEY_MSG_ERROR = 3,
};

struct ks_tempkey_message {
    enum ks_tempkey_msg_type type;
    union {
        struct ks_tempkey_challenge challenge;
        struct ks_tempkey_request request;
        struct ks_tempkey_reply reply;
        struct ks_tempkey_error error;
    } u;
};

krb5_error_code ks_tempkey_message_encode(const struct ks_tempkey_message *m,
                                          unsigned char **der_out,
                                          size_t *len_out);
krb5_error_code ks_tempkey_message_decode(const unsigned char *der,
                                          size_t len,
                                          struct ks_tempkey_message **out);
void ks_tempkey_message_free(struct ks_tempkey_message *m);

krb5_error_code
ks_tempkey_request_body_encode(const struct ks_tempkey_request_body *b,
                               unsigned char **der_out, size_t *len_out);
krb5_error_code
ks_tempkey_request_body_decode(const unsigned char *der, size_t len,
                               struct ks_tempkey_request_body **out);
void ks_tempkey_request_body_free(struct ks_tempkey_request_body *b);

/* TempkeyKeys: the encoder output and decoder input hold key bytes; the
 * caller zeroes them (ks_zfree). */
krb5_error_code ks_tempkey_keys_encode(const struct ks_tempkey_keys *k,
                                       unsigned char **der_out,
                                       size_t *len_out);
krb5_error_code ks_tempkey_keys_decode(const unsigned char *der, size_t len,
                                       struct ks_tempkey_keys **out);
void ks_tempkey_keys_free(struct ks_tempkey_keys *k);

krb5_error_code
ks_tempkey_reply_body_encode(const struct ks_tempkey_reply_body *b,
                             unsigned char **der_out, size_t *len_out);

/* A static English message for a TempkeyError code. */
const char *ks_tempkey_error_message(int32_t code);

#endif
