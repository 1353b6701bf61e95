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
#define KS_PA_TEMPKEY           (-1602) /* reserved for tempkey */

/* Key usages. */
#define KS_KEYUSAGE_FRESHNESS   1601    /* freshness tokens (krbtgt key) */

/* Object identifiers, dotted. */
#define KS_OID_ARC              "1.3.6.1.4.1.32473.1601"
#define KS_OID_DEVREG_AUTHPACK  KS_OID_ARC ".1" /* eContentType, device */
#define KS_OID_DEVREG_DHINFO    KS_OID_ARC ".2" /* eContentType, KDC */

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

#endif
