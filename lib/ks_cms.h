/*
 * CMS (RFC 5652) and certificate helpers of devreg and tempkey, through
 * OpenSSL's CMS and X509 APIs (no hand-written DER).
 *
 * Signing: ks_cms_sign() makes DER ContentInfo(SignedData) with one
 * signer, the eContent embedded under a given eContentType, the signer's
 * certificate (and chain) included and OpenSSL's default signed attributes
 * (content-type, message-digest, signing-time).  Signature algorithms by
 * key type: Ed25519 (pure EdDSA, SHA-512 message digest, RFC 8419), ECDSA
 * with SHA-256 (P-256 keys), RSASSA-PSS with SHA-256, MGF1-SHA-256 and a
 * 32-byte salt (RSA keys).  Other key types are refused.
 *
 * Verifying: ks_cms_verify() treats every field as possibly absent (MIT's
 * PKINIT once dereferenced NULL on a SignedData without signers and
 * eContent, DESIGN.md section 5).  It refuses, as malformed, input that is
 * not exactly one ContentInfo (trailing bytes, over KS_ASN1_MAX_INPUT), a
 * content type other than SignedData, an eContentType other than the
 * expected one, absent (detached) eContent, a number of SignerInfos other
 * than one, a SignerInfo without signed attributes, a signer certificate
 * missing from the SignedData, and message digests weaker than SHA-256.
 * Then it checks the signature (and that the signed content-type attribute
 * equals the eContentType) and the signer by one of two trust modes:
 *  - trust store: the signer certificate must chain to the anchors at the
 *    verification time (other certificates of the SignedData may serve as
 *    intermediates) and carry the required extended key usage;
 *  - pinned key: the signer's public key must equal a given DER
 *    SubjectPublicKeyInfo; the certificate itself (self-signed is fine,
 *    validity, EKU) is not examined.
 *
 * Results of ks_cms_verify() (krb5 code / KS_DEVREG_E_* out-parameter):
 *   malformed          ASN1_PARSE_ERROR / KS_DEVREG_E_MALFORMED
 *   bad signature      KRB5KDC_ERR_INVALID_SIG / KS_DEVREG_E_BAD_SIGNATURE
 *   untrusted chain    KRB5KDC_ERR_CANT_VERIFY_CERTIFICATE /
 *                      KS_DEVREG_E_UNTRUSTED_CERT
 *   expired            KRB5KDC_ERR_INVALID_CERTIFICATE /
 *                      KS_DEVREG_E_CERT_EXPIRED
 *   not yet valid      KRB5KDC_ERR_INVALID_CERTIFICATE /
 *                      KS_DEVREG_E_CERT_NOT_YET_VALID
 *   wrong EKU          KRB5KDC_ERR_INCONSISTENT_KEY_PURPOSE /
 *                      KS_DEVREG_E_WRONG_EKU
 *   key mismatch       KRB5KDC_ERR_CERTIFICATE_MISMATCH /
 *                      KS_DEVREG_E_BAD_SIGNATURE (not the staged key)
 * Other errors (ENOMEM, EINVAL for bad arguments, KRB5_CRYPTO_INTERNAL)
 * leave the devreg code 0.  Every failure sets a krb5_set_error_message
 * text naming the cause.
 *
 * Certificates: ks_cms_cert_pkinit_principal() reads the id-pkinit-san
 * otherName (RFC 4556 section 3.2.2) and ks_cms_cert_dns_names() the
 * dNSName entries of a certificate's subjectAltName.
 *
 * Identities: ks_identity_load() reads "FILE:cert.pem,key.pem" (PEM; the
 * certificate file holds the end-entity certificate first, then any
 * chain; "FILE:both.pem" holds certificate(s) and key in one file).  The
 * key file must not be accessible by group or others, and the key must
 * match the certificate; encrypted keys are not supported.
 * ks_anchors_load() reads "FILE:ca.pem" (one or more PEM certificates)
 * into a new X509_STORE.
 */
#ifndef KS_CMS_H
#define KS_CMS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <krb5/krb5.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* How ks_cms_verify() decides whether it trusts the signer. */
struct ks_cms_trust {
    /* Trust-store mode when anchors is set. */
    X509_STORE *anchors;
    time_t verify_time;             /* 0: now */
    const char *eku_oid;            /* dotted EKU the signer must carry, or
                                     * NULL for no EKU requirement */
    krb5_boolean eku_absent_ok;     /* also accept a certificate with no
                                     * EKU extension at all */

    /* Pinned-key mode when anchors is NULL: DER SubjectPublicKeyInfo. */
    const unsigned char *pinned_spki;
    size_t pinned_spki_len;
};

/*
 * Sign data (len bytes) with key and cert: DER ContentInfo(SignedData)
 * with eContentType econtent_oid (dotted) into *der_out (malloc'ed, free
 * with free()) and *len_out.  chain (may be NULL) is included after cert.
 */
krb5_error_code ks_cms_sign(krb5_context ctx, EVP_PKEY *key, X509 *cert,
                            STACK_OF(X509) *chain, const char *econtent_oid,
                            const unsigned char *data, size_t len,
                            unsigned char **der_out, size_t *len_out);

/*
 * Verify DER ContentInfo(SignedData) der (len bytes) whose eContentType
 * must be econtent_oid, under trust.  On success *content_out (malloc'ed;
 * free with free()) and *content_len_out hold the eContent and
 * *signer_out (may be NULL; free with X509_free) the signer certificate.
 * *devreg_code_out (may be NULL) gets the KS_DEVREG_E_* code of a refusal
 * (see above), 0 on success and for other errors.
 */
krb5_error_code ks_cms_verify(krb5_context ctx, const unsigned char *der,
                              size_t len, const char *econtent_oid,
                              const struct ks_cms_trust *trust,
                              unsigned char **content_out,
                              size_t *content_len_out, X509 **signer_out,
                              int32_t *devreg_code_out);

/*
 * The principal named by the id-pkinit-san otherName (1.3.6.1.5.2.2) of
 * cert's subjectAltName into *out (free with krb5_free_principal).
 * ENOENT when there is none, EINVAL when there are several (ambiguous) or
 * the value is not a KRB5PrincipalName.
 */
krb5_error_code ks_cms_cert_pkinit_principal(krb5_context ctx, X509 *cert,
                                             krb5_principal *out);

/*
 * The dNSName entries of cert's subjectAltName as a NULL-terminated list
 * into *names_out (empty when there are none; free with
 * ks_cms_free_names).  An entry with an embedded NUL is an error (EINVAL).
 */
krb5_error_code ks_cms_cert_dns_names(krb5_context ctx, X509 *cert,
                                      char ***names_out);

/*
 * Check a bare certificate (not a signature) in trust-store mode: cert
 * chains to trust->anchors at the verification time (chain, may be NULL,
 * as intermediates) and carries the required EKU.  Results and
 * *devreg_code_out as for ks_cms_verify().
 */
krb5_error_code ks_cms_cert_verify(krb5_context ctx, X509 *cert,
                                   STACK_OF(X509) *chain,
                                   const struct ks_cms_trust *trust,
                                   int32_t *devreg_code_out);

/* Free a list from ks_cms_cert_dns_names(); NULL is fine. */
void ks_cms_free_names(char **names);

/*
 * Load the identity spec ("FILE:cert.pem,key.pem" or "FILE:both.pem"):
 * the private key, the end-entity certificate and the other certificates
 * of the file as *chain_out (possibly empty; free with
 * sk_X509_pop_free(chain, X509_free)).  Outputs may not be NULL.
 */
krb5_error_code ks_identity_load(krb5_context ctx, const char *spec,
                                 EVP_PKEY **key_out, X509 **cert_out,
                                 STACK_OF(X509) **chain_out);

/* Load the trust anchors of spec ("FILE:ca.pem") into a new store (free
 * with X509_STORE_free). */
krb5_error_code ks_anchors_load(krb5_context ctx, const char *spec,
                                X509_STORE **store_out);

/*
 * Sealing (EnvelopedData, for tempkey): ks_cms_seal() encrypts data (len
 * bytes) to recipient's public key as DER ContentInfo(EnvelopedData)
 * whose encryptedContentInfo carries content type content_oid (dotted).
 * Content encryption AES-256-CBC under a fresh key, delivered by
 *  - P-256 (EC) recipients: KeyAgreeRecipientInfo, ephemeral-static ECDH
 *    with the X9.63 KDF over SHA-256 and AES-256 key wrap;
 *  - RSA (>= 2048 bits) recipients: KeyTransRecipientInfo, RSAES-OAEP with
 *    SHA-256 and MGF1-SHA-256.
 * Other key types (and RSA under 2048 bits) are refused with EINVAL.
 *
 * ks_cms_open() is its inverse with the recipient's key and certificate.
 * It refuses, as malformed (ASN1_PARSE_ERROR), input that is not exactly
 * one ContentInfo (trailing bytes, over KS_ASN1_MAX_INPUT), not
 * EnvelopedData, or whose content type is not content_oid; when no
 * RecipientInfo is for cert, or unwrapping or decrypting fails, it returns
 * KRB5KDC_ERR_CERTIFICATE_MISMATCH ("not sealed to this certificate").
 * *data_out is malloc'ed; it holds secrets: free it with ks_zfree().
 */
krb5_error_code ks_cms_seal(krb5_context ctx, X509 *recipient,
                            const char *content_oid,
                            const unsigned char *data, size_t len,
                            unsigned char **der_out, size_t *len_out);
krb5_error_code ks_cms_open(krb5_context ctx, EVP_PKEY *key, X509 *cert,
                            const char *content_oid,
                            const unsigned char *der, size_t len,
                            unsigned char **data_out, size_t *len_out);

#endif
