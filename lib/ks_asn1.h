/*
 * ASN.1 codecs of krb5-stateless: the devreg messages of
 * doc/devreg-protocol.md, the RFC 4556 / RFC 8636 types of the PKINIT KDF,
 * and a reader of auth indicators in ticket authorization data (RFC 7751
 * AD-CAMMAC, MIT's AD-AUTH-INDICATOR).
 *
 * Callers see plain C structures; the DER is produced and parsed by OpenSSL
 * ASN.1 templates in ks_asn1.c.  Encoders write malloc'ed bytes (free with
 * free()); decoders allocate the structure (free with the matching
 * ks_*_free()) and set their output only on success.
 *
 * Decoders are strict, because every input comes from the network:
 *  - the input is exactly one DER value: trailing bytes, BER forms
 *    (indefinite or non-minimal lengths, constructed strings, BOOLEAN TRUE
 *    other than 0xFF) and inputs over KS_ASN1_MAX_INPUT are refused;
 *  - versions must be KS_DEVREG_VERSION, mode and group must be known,
 *    client-public and kdc-public must have the size of the group (and a
 *    P-256 point must be uncompressed), hashes are SHA-256 sized;
 *  - octet strings and texts have the caps below; texts must be UTF-8
 *    without NUL; times are GeneralizedTime YYYYMMDDHHMMSSZ, 1970 or later.
 * Encoders refuse what the decoders would refuse, so decode(encode(x))
 * succeeds and gives x back.
 *
 * Errors: ASN1_PARSE_ERROR (not the expected type), ASN1_BAD_LENGTH
 * (trailing bytes, empty or oversized input), ASN1_BAD_FORMAT (not DER, a
 * field out of range, bad version), ASN1_MISSING_FIELD, ASN1_BAD_TIMEFORMAT,
 * ENOMEM; encoders return EINVAL for a structure they cannot encode.
 */
#ifndef KS_ASN1_H
#define KS_ASN1_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <krb5/krb5.h>
#include <openssl/asn1.h>

#include "ks_iana.h"

#define KS_SHA256_LEN 32

/* Caps on decoded sizes (bytes unless said otherwise). */
#define KS_ASN1_MAX_INPUT           65536   /* any DER input */
#define KS_DEVREG_MAX_TOKEN         1024    /* freshness-token */
#define KS_DEVREG_MAX_GROUPS        16      /* DevregChallenge.groups */
#define KS_DEVREG_MAX_CMS           32768   /* auth-pack, signed-dh-info */
#define KS_DEVREG_MAX_AP_REQ        32768   /* DevregLogin.ap-req */
#define KS_DEVREG_MAX_TEXT          1024    /* DevregError.text */
#define KS_DEVREG_MAX_CLIENT        1024    /* FreshnessPlain.client */
#define KS_PRINC_MAX_COMPONENTS     32      /* KRB5PrincipalName */
#define KS_PRINC_MAX_STRING         1024    /* realm, each component */
#define KS_MAX_INDICATORS           64      /* per ticket */
#define KS_MAX_INDICATOR_LEN        255

/* DevregChallenge: KDC -> client, e-data of PREAUTH_REQUIRED. */
struct ks_devreg_challenge {
    krb5_data freshness_token;  /* 0..KS_DEVREG_MAX_TOKEN bytes (a KDC
                                 * always sends one; a client passes an
                                 * empty one on and the KDC refuses it) */
    int32_t *groups;            /* 1..KS_DEVREG_MAX_GROUPS ids, each > 0;
                                 * ids this version does not know are
                                 * kept (a client skips them) */
    size_t ngroups;
    krb5_boolean anonymous_ok;
};

/* DevregRegister: client -> KDC, AS-REQ padata. */
struct ks_devreg_register {
    int32_t mode;               /* KS_DEVREG_MODE_* */
    krb5_data auth_pack;        /* 1..KS_DEVREG_MAX_CMS bytes: DER
                                 * ContentInfo (staged) or DER
                                 * DevregAuthPack (anonymous) */
};

/* DevregReply: KDC -> client, AS-REP padata. */
struct ks_devreg_reply {
    krb5_data signed_dh_info;   /* 1..KS_DEVREG_MAX_CMS bytes, DER
                                 * ContentInfo(SignedData(DevregDHInfo)) */
};

/* DevregLogin: client -> KDC, AS-REQ padata. */
struct ks_devreg_login {
    krb5_data ap_req;           /* 1..KS_DEVREG_MAX_AP_REQ bytes, DER AP-REQ */
};

/* DevregError: KDC -> client, e-data of an error. */
struct ks_devreg_error {
    int32_t code;               /* KS_DEVREG_E_*; other values are kept */
    char *text;                 /* NULL when absent */
};

enum ks_devreg_msg_type {
    KS_DEVREG_MSG_CHALLENGE = 0,  /* the values are the CHOICE tags */
    KS_DEVREG_MSG_REGISTER = 1,
    KS_DEVREG_MSG_REPLY = 2,
    KS_DEVREG_MSG_LOGIN = 3,
    KS_DEVREG_MSG_ERROR = 4,
};

/* DevregMessage: the padata value of KS_PA_DEVREG in both directions. */
struct ks_devreg_message {
    enum ks_devreg_msg_type type;
    union {
        struct ks_devreg_challenge challenge;
        struct ks_devreg_register reg;
        struct ks_devreg_reply reply;
        struct ks_devreg_login login;
        struct ks_devreg_error error;
    } u;
};

/* DevregAuthPack: what the device signs (or sends bare, anonymous). */
struct ks_devreg_auth_pack {
    krb5_data freshness_token;              /* as in the challenge; empty
                                             * when the client had none
                                             * (refused as missing) */
    unsigned char req_body_hash[KS_SHA256_LEN];
    time_t ctime;
    int32_t group;                          /* KS_DEVREG_GROUP_* */
    krb5_data client_public;                /* size of the group */
};

/* DevregDHInfo: what the KDC signs. */
struct ks_devreg_dh_info {
    unsigned char auth_pack_hash[KS_SHA256_LEN];
    int32_t group;
    krb5_data kdc_public;
};

/* FreshnessPlain: the plaintext of a freshness token. */
struct ks_freshness_plain {
    time_t kdc_time;
    char *client;               /* unparsed client principal, 1..
                                 * KS_DEVREG_MAX_CLIENT bytes of UTF-8 */
};

/* Encode msg as DER DevregMessage into *der_out (malloc'ed), *len_out. */
krb5_error_code ks_devreg_message_encode(const struct ks_devreg_message *msg,
                                         unsigned char **der_out,
                                         size_t *len_out);

/* Decode a DER DevregMessage. */
krb5_error_code ks_devreg_message_decode(const unsigned char *der,
                                         size_t len,
                                         struct ks_devreg_message **msg_out);

/* Free a decoded (or caller-built, malloc'ed) message; NULL is fine. */
void ks_devreg_message_free(struct ks_devreg_message *msg);

/* Encode and decode DevregAuthPack. */
krb5_error_code
ks_devreg_auth_pack_encode(const struct ks_devreg_auth_pack *ap,
                           unsigned char **der_out, size_t *len_out);
krb5_error_code ks_devreg_auth_pack_decode(const unsigned char *der,
                                           size_t len,
                                           struct ks_devreg_auth_pack **out);
void ks_devreg_auth_pack_free(struct ks_devreg_auth_pack *ap);

/* Encode and decode DevregDHInfo. */
krb5_error_code ks_devreg_dh_info_encode(const struct ks_devreg_dh_info *dh,
                                         unsigned char **der_out,
                                         size_t *len_out);
krb5_error_code ks_devreg_dh_info_decode(const unsigned char *der,
                                         size_t len,
                                         struct ks_devreg_dh_info **out);
void ks_devreg_dh_info_free(struct ks_devreg_dh_info *dh);

/* Encode and decode FreshnessPlain. */
krb5_error_code ks_freshness_plain_encode(const struct ks_freshness_plain *fp,
                                          unsigned char **der_out,
                                          size_t *len_out);
krb5_error_code ks_freshness_plain_decode(const unsigned char *der,
                                          size_t len,
                                          struct ks_freshness_plain **out);
void ks_freshness_plain_free(struct ks_freshness_plain *fp);

/* A static English message for a DevregError code ("unknown devreg error
 * code" for codes this version does not know). */
const char *ks_devreg_error_message(int32_t code);

/*
 * DER KRB5PrincipalName (RFC 4556 section 3.2.2) of princ: realm [0]
 * GeneralString, principalName [1] { name-type [0], name-string [1] }.
 * The name type is princ->type as it is: krb5_parse_name() gives
 * KRB5_NT_SRV_INST to krbtgt/... names, so pass principals exactly as
 * they travel in the KDC-REQ-BODY when both peers must agree on the bytes.
 */
krb5_error_code ks_krb5_principal_name_der(krb5_context ctx,
                                           krb5_const_principal princ,
                                           unsigned char **der,
                                           size_t *len);

/* Decode a DER KRB5PrincipalName (such as an id-pkinit-san otherName
 * value) into a new principal (free with krb5_free_principal).  Requires a
 * non-empty realm and 1..KS_PRINC_MAX_COMPONENTS components. */
krb5_error_code ks_krb5_principal_name_decode(krb5_context ctx,
                                              const unsigned char *der,
                                              size_t len,
                                              krb5_principal *princ_out);

/*
 * DER OtherInfo of RFC 8636 section 3.2: algorithmID = kdf_oid (dotted,
 * e.g. KS_OID_PKINIT_KDF_SHA256) with absent parameters, partyUInfo and
 * partyVInfo = DER KRB5PrincipalName of client and server, suppPubInfo =
 * DER PkinitSuppPubInfo { enctype, as-REQ, pk-as-rep }.
 */
krb5_error_code ks_pkinit_other_info_der(krb5_context ctx,
                                         const char *kdf_oid,
                                         krb5_const_principal client,
                                         krb5_const_principal server,
                                         krb5_enctype enctype,
                                         const krb5_data *as_req,
                                         const krb5_data *pk_as_rep,
                                         unsigned char **der,
                                         size_t *len);

/*
 * The auth indicators in the authorization data of a decrypted ticket
 * (enc_part2->authorization_data): every string of every
 * AD-AUTH-INDICATOR (97) element of every AD-CAMMAC (96) found directly
 * inside an AD-IF-RELEVANT (1) element, in order.  *indicators_out is a
 * NULL-terminated list (empty when there are none; free with
 * ks_free_indicators).  A malformed IF-RELEVANT, CAMMAC or indicator
 * element is an error, as are more than KS_MAX_INDICATORS indicators or
 * one longer than KS_MAX_INDICATOR_LEN.  The CAMMAC verifiers are not
 * checked: only pass authorization data of a ticket the KDC decrypted
 * with its own key (the enc-part authenticates it), never an
 * authenticator's.
 */
krb5_error_code ks_authdata_indicators(krb5_context ctx,
                                       krb5_authdata *const *ticket_authdata,
                                       char ***indicators_out);

/* Free a list from ks_authdata_indicators(); NULL is fine. */
void ks_free_indicators(char **indicators);

/*
 * Encoders of the authorization data types read above, for KDC code that
 * builds authorization data and for tests: DER AuthorizationData of list
 * (NULL-terminated; NULL or empty gives an empty SEQUENCE), DER AD-CAMMAC
 * with the given elements and no verifiers, DER AD-AUTH-INDICATOR of a
 * NULL-terminated list of UTF-8 strings.
 */
krb5_error_code ks_authdata_encode(krb5_authdata *const *list,
                                   unsigned char **der, size_t *len);
krb5_error_code ks_cammac_encode(krb5_authdata *const *elements,
                                 unsigned char **der, size_t *len);
krb5_error_code ks_auth_indicator_encode(char *const *indicators,
                                         unsigned char **der, size_t *len);

/* Decode DER AuthorizationData into a NULL-terminated list (free with
 * krb5_free_authdata); an empty SEQUENCE gives a list with no element. */
krb5_error_code ks_authdata_decode(const unsigned char *der, size_t len,
                                   krb5_authdata ***list_out);

/*
 * Building blocks of the codecs in lib/ (ks_asn1.c, ks_tempkey_asn1.c),
 * for OpenSSL ASN.1 template types.  They return the finer codes above
 * (ASN1_BAD_LENGTH, ASN1_PARSE_ERROR, ASN1_BAD_FORMAT, ASN1_MISSING_FIELD);
 * a codec that answers every refusal with one code maps them.
 */

/* Decode the len bytes at der as one DER value of type it into *val_out
 * (free with ASN1_item_free): trailing bytes, input that is not the DER
 * encoding of what it decodes to (every BER variant OpenSSL's decoder
 * tolerates: the value is re-encoded and compared) and input over
 * KS_ASN1_MAX_INPUT are refused. */
krb5_error_code ks_der_decode(const ASN1_ITEM *it, const unsigned char *der,
                              size_t len, ASN1_VALUE **val_out);

/* The same for input holding key material: the re-encoding made for the
 * comparison is cleansed before it is freed.  (The template's own copies
 * need a free callback of the type that cleanses them.) */
krb5_error_code ks_der_decode_secret(const ASN1_ITEM *it,
                                     const unsigned char *der, size_t len,
                                     ASN1_VALUE **val_out);

/* DER-encode val of type it into malloc'ed *der_out and *len_out; EINVAL
 * if OpenSSL cannot encode it. */
krb5_error_code ks_der_encode(const ASN1_ITEM *it, ASN1_VALUE *val,
                              unsigned char **der_out, size_t *len_out);

/* Nonzero if the len bytes at s are UTF-8 (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF) with no NUL. */
int ks_utf8_valid(const unsigned char *s, size_t len);

/* Nonzero if s is a NUL-terminated UTF-8 string of min..max bytes. */
int ks_text_valid(const char *s, size_t min, size_t max);

/* Nonzero if d holds min..max bytes. */
int ks_octets_valid(const krb5_data *d, size_t min, size_t max);

/* Copy the contents of os (min..max bytes) into a new malloc'ed out->data
 * (at least one byte allocated, so an empty value is not NULL). */
krb5_error_code ks_octets_from_asn1(const ASN1_OCTET_STRING *os, size_t min,
                                    size_t max, krb5_data *out);

/* Copy the contents of os, which must be exactly len bytes, to out. */
krb5_error_code ks_fixed_from_asn1(const ASN1_OCTET_STRING *os,
                                   unsigned char *out, size_t len);

/* Copy the UTF8String s (min..max bytes, valid UTF-8, no NUL) into a new
 * NUL-terminated *out. */
krb5_error_code ks_text_from_asn1(const ASN1_UTF8STRING *s, size_t min,
                                  size_t max, char **out);

/* Set *osp to the len bytes at data; *osp may be NULL (an OPTIONAL field
 * the template left absent): it is allocated. */
krb5_error_code ks_octets_to_asn1(ASN1_OCTET_STRING **osp, const void *data,
                                  size_t len);

/* Set *sp to text (NUL-terminated; checked by the caller's validator);
 * *sp may be NULL: it is allocated. */
krb5_error_code ks_text_to_asn1(ASN1_UTF8STRING **sp, const char *text);

#endif
