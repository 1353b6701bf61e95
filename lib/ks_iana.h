/*
 * Protocol numbers of krb5-stateless, in one place (doc/devreg-protocol.md).
 *
 * Padata types and key usages are private-use values: padata types are
 * negative, key usages are in the application range 1024-2047 of RFC 4120
 * section 7.5.1.  Object identifiers live under the RFC 5612 documentation
 * enterprise number 32473: experimental, to be replaced with an assigned
 * arc before interoperating with other implementations.  The devreg
 * numbers below (groups, modes, error codes) travel on the wire; never
 * renumber one, only add.
 */
#ifndef KS_IANA_H
#define KS_IANA_H

/* Padata types. */
#define KS_PA_DEVREG            (-1601) /* every devreg message */
#define KS_PA_TEMPKEY           (-1602) /* every tempkey message */

/* Key usages. */
#define KS_KEYUSAGE_FRESHNESS   1601    /* freshness tokens (krbtgt key) */
#define KS_KEYUSAGE_TEMPKEY_REPLY 1602  /* TempkeyReply checksum (new key) */
#define KS_KEYUSAGE_TEMPKEY_STORE 1603  /* temporary keys at rest in
                                         * store.mdb (store key) */

/* Object identifiers, dotted. */
#define KS_OID_ARC              "1.3.6.1.4.1.32473.1601"
#define KS_OID_DEVREG_AUTHPACK  KS_OID_ARC ".1" /* eContentType, device */
#define KS_OID_DEVREG_DHINFO    KS_OID_ARC ".2" /* eContentType, KDC */
#define KS_OID_TEMPKEY_REQUEST  KS_OID_ARC ".3" /* eContentType, server */
#define KS_OID_TEMPKEY_KEYS     KS_OID_ARC ".4" /* sealed content type */

/* RFC 4556 and RFC 8636 object identifiers. */
#define KS_OID_PKINIT_SAN           "1.3.6.1.5.2.2"
#define KS_OID_PKINIT_KPCLIENTAUTH  "1.3.6.1.5.2.3.4"
#define KS_OID_PKINIT_KPKDC         "1.3.6.1.5.2.3.5"
#define KS_OID_PKINIT_KDF_SHA1      "1.3.6.1.5.2.3.6.1"
#define KS_OID_PKINIT_KDF_SHA256    "1.3.6.1.5.2.3.6.2"
#define KS_OID_PKINIT_KDF_SHA512    "1.3.6.1.5.2.3.6.3"

/* Authorization data types (RFC 4120, RFC 7751, MIT krb5). */
#define KS_AD_IF_RELEVANT       1
#define KS_AD_CAMMAC            96
#define KS_AD_AUTH_INDICATOR    97

/* Auth indicators the KDC puts into registration tickets. */
#define KS_INDICATOR_STAGED         "devreg-staged"
#define KS_INDICATOR_ANONYMOUS      "devreg-anonymous"
#define KS_INDICATOR_PROVISIONED    "devreg-provisioned"

/* DevregChallenge, DevregRegister and DevregLogin version. */
#define KS_DEVREG_VERSION       1

/* Key agreement groups (DevregChallenge.groups, DevregAuthPack.group). */
#define KS_DEVREG_GROUP_X25519  1
#define KS_DEVREG_GROUP_P256    2

/* Public key sizes: X25519 raw key, P-256 uncompressed point (0x04 X Y). */
#define KS_DEVREG_X25519_PUBLIC_LEN 32
#define KS_DEVREG_P256_PUBLIC_LEN   65

/* Registration modes (DevregRegister.mode). */
#define KS_DEVREG_MODE_STAGED       1
#define KS_DEVREG_MODE_ANONYMOUS    2

/*
 * DevregError codes: one per cause a user can act on.  The KDC sends the
 * code (and a text) in the e-data of its error; the client prints the
 * message of ks_devreg_error_message() (lib/ks_asn1.h).
 */
#define KS_DEVREG_E_MALFORMED           1  /* undecodable devreg message */
#define KS_DEVREG_E_BAD_SIGNATURE       2  /* device signature invalid */
#define KS_DEVREG_E_UNKNOWN_DEVICE      3  /* not staged, no device cert */
#define KS_DEVREG_E_UNTRUSTED_CERT      4  /* no path to a mfr anchor */
#define KS_DEVREG_E_CERT_EXPIRED        5  /* device certificate expired */
#define KS_DEVREG_E_CERT_NOT_YET_VALID  6  /* notBefore in the future */
#define KS_DEVREG_E_WRONG_EKU           7  /* no id-pkinit-KPClientAuth */
#define KS_DEVREG_E_CERT_WRONG_DEVICE   8  /* certificate names another id */
#define KS_DEVREG_E_ANONYMOUS_DISABLED  9  /* devreg_allow_anonymous off */
#define KS_DEVREG_E_ANONYMOUS_STAGED    10 /* anonymous for a staged id */
#define KS_DEVREG_E_FRESHNESS_MISSING   11 /* no freshness token */
#define KS_DEVREG_E_FRESHNESS_STALE     12 /* token outside clock skew */
#define KS_DEVREG_E_FRESHNESS_INVALID   13 /* undecryptable / other client */
#define KS_DEVREG_E_BAD_BINDING         14 /* req-body hash or checksum */
#define KS_DEVREG_E_UNSUPPORTED_GROUP   15 /* group the KDC does not offer */
#define KS_DEVREG_E_TICKET_INVALID      16 /* registration ticket tampered */
#define KS_DEVREG_E_TICKET_EXPIRED      17 /* registration ticket expired */
#define KS_DEVREG_E_TICKET_WRONG_CLIENT 18 /* ticket of another device */
#define KS_DEVREG_E_REPLAY              19 /* login authenticator replayed */
#define KS_DEVREG_E_CLOCK_SKEW          20 /* authenticator time off */
#define KS_DEVREG_E_MAX                 20

/* TempkeyRequest version. */
#define KS_TEMPKEY_VERSION      1

/* Key ids of temporary keys (the kvno of tickets in them): 16-bit. */
#define KS_TEMPKEY_ID_MIN       1
#define KS_TEMPKEY_ID_MAX       65535

/*
 * TempkeyError codes, as DevregError's: one per cause a server operator
 * can act on.  Their names (the cause table in plugins/tempkey_padata.c)
 * appear in messages.
 */
#define KS_TEMPKEY_E_MALFORMED          1  /* undecodable tempkey message */
#define KS_TEMPKEY_E_BAD_SIGNATURE      2  /* server signature invalid */
#define KS_TEMPKEY_E_UNTRUSTED_CERT     3  /* no path to tempkey_anchors */
#define KS_TEMPKEY_E_CERT_EXPIRED       4  /* server certificate expired */
#define KS_TEMPKEY_E_CERT_NOT_YET_VALID 5  /* notBefore in the future */
#define KS_TEMPKEY_E_WRONG_EKU          6  /* EKU neither absent nor
                                            * id-pkinit-KPClientAuth */
#define KS_TEMPKEY_E_CERT_WRONG_PRINC   7  /* certificate names another
                                            * principal */
#define KS_TEMPKEY_E_ROLLBACK           8  /* key id not above the stored */
#define KS_TEMPKEY_E_LIFETIME           9  /* expiry beyond tempkey_max_life */
#define KS_TEMPKEY_E_REPLAY             10 /* request (its token) replayed */
#define KS_TEMPKEY_E_WRONG_KDC_KEY      11 /* keys not sealed to this KDC */
#define KS_TEMPKEY_E_FRESHNESS_MISSING  12 /* no freshness token */
#define KS_TEMPKEY_E_FRESHNESS_STALE    13 /* token outside clock skew */
#define KS_TEMPKEY_E_FRESHNESS_INVALID  14 /* undecryptable / other client */
#define KS_TEMPKEY_E_BAD_BINDING        15 /* req-body hash mismatch */
#define KS_TEMPKEY_E_PRINC_MISMATCH     16 /* signed principal is not the
                                            * AS request's client */
#define KS_TEMPKEY_E_BAD_KEY            17 /* no usable enctype, bad key
                                            * length, bad key id, expiry
                                            * not in the future */
#define KS_TEMPKEY_E_NOT_CONFIGURED     18 /* KDC lacks tempkey_anchors or
                                            * devreg_identity */
#define KS_TEMPKEY_E_UNSUPPORTED_DB     19 /* realm database is not the
                                            * stateless backend */
#define KS_TEMPKEY_E_STORE              20 /* storing the key failed */
#define KS_TEMPKEY_E_MAX                20

#endif
