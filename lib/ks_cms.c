/*
 * CMS SignedData, certificate and identity helpers through OpenSSL; see
 * ks_cms.h for the contract.
 *
 * Verification order: structure (every field possibly absent), the signer
 * certificate found among the SignedData's certificates, the signature
 * (CMS_verify with CMS_NO_SIGNER_CERT_VERIFY: OpenSSL's own path check
 * would impose the S/MIME purpose), then trust (our own X509_STORE_CTX with
 * no purpose, the verification time and an explicit EKU check, or the
 * pinned public key).
 *
 * Ed25519: OpenSSL 3.0's CMS code signs and verifies SignerInfos only
 * through EVP_DigestSign/Verify with a digest, which its EdDSA provider
 * refuses ("no default digest" / "invalid digest"; fixed in later
 * releases).  For Ed25519 this file therefore does the two steps that
 * need the key itself, exactly as RFC 5652 section 5.4 and RFC 8419
 * define them, while OpenSSL's CMS API still builds and parses every
 * structure: the signature (pure Ed25519) is over the DER SET OF the
 * signed attributes (encoded by an OpenSSL ASN.1 template), which hold
 * content-type, message-digest = SHA-512(eContent) and signing-time.
 *
 * Sealing (EnvelopedData): OpenSSL's defaults are not what ks_cms.h
 * promises, so ks_cms_seal() names every algorithm (the X9.63 KDF digest
 * of ECDH would be SHA-1, the RSA padding PKCS #1 v1.5).  ks_cms_open()
 * decrypts with CMS_DEBUG_DECRYPT so that a key that is not ours is an
 * error, not a random content key, and accepts only RSAES-OAEP key
 * transport so that reporting that error is no padding oracle.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ks_asn1.h"
#include "ks_cms.h"
#include "ks_iana.h"
#include "ks_util.h"

/* Largest PEM file read by ks_identity_load() and ks_anchors_load(). */
#define KS_PEM_MAX (1024 * 1024)

/* Set a message naming what went wrong in OpenSSL and return
 * KRB5_CRYPTO_INTERNAL. */
static krb5_error_code
openssl_error(krb5_context ctx, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char buf[256] = "";

    if (e != 0)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    krb5_set_error_message(ctx, KRB5_CRYPTO_INTERNAL, "cms: OpenSSL failed "
                           "to %s%s%s", what, *buf ? ": " : "", buf);
    return KRB5_CRYPTO_INTERNAL;
}

/* The RFC 2253 subject of cert into buf (size bytes). */
static const char *
subject_string(X509 *cert, char *buf, size_t size)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int n = 0;

    buf[0] = '\0';
    if (bio != NULL &&
        X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
                           XN_FLAG_RFC2253) >= 0)
        n = BIO_read(bio, buf, (int)size - 1);
    buf[n > 0 ? n : 0] = '\0';
    BIO_free(bio);
    return buf;
}

/* The digest and, for RSA, PSS use of key; refuse other key types. */
static krb5_error_code
signing_params(krb5_context ctx, EVP_PKEY *key, const EVP_MD **md_out,
               krb5_boolean *pss_out)
{
    char group[64];

    *md_out = NULL;
    *pss_out = FALSE;
    if (EVP_PKEY_is_a(key, "ED25519")) {
        *md_out = EVP_sha512();     /* RFC 8419 section 3 */
        return 0;
    }
    if (EVP_PKEY_is_a(key, "EC")) {
        if (EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) == 1 &&
            (strcmp(group, "prime256v1") == 0 ||
             strcmp(group, "P-256") == 0)) {
            *md_out = EVP_sha256();
            return 0;
        }
    } else if (EVP_PKEY_is_a(key, "RSA")) {
        if (EVP_PKEY_get_bits(key) >= 2048) {
            *md_out = EVP_sha256();
            *pss_out = TRUE;
            return 0;
        }
    }
    krb5_set_error_message(ctx, EINVAL, "cms: unsupported signing key type "
                           "%s (use Ed25519, ECDSA P-256 or RSA >= 2048 "
                           "bits)", EVP_PKEY_get0_type_name(key));
    return EINVAL;
}

/* SignedAttributes as signed: DER SET OF Attribute (RFC 5652 5.4). */
typedef STACK_OF(X509_ATTRIBUTE) KS_SIGNED_ATTRS;
DECLARE_ASN1_ITEM(KS_SIGNED_ATTRS)
ASN1_ITEM_TEMPLATE(KS_SIGNED_ATTRS) =
    ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SET_OF, 0, KS_SIGNED_ATTRS,
                          X509_ATTRIBUTE)
ASN1_ITEM_TEMPLATE_END(KS_SIGNED_ATTRS)

/* The DER SET OF the signed attributes of si into *der_out (free with
 * OPENSSL_free); 0 when si has none or on failure. */
static int
signed_attrs_der(CMS_SignerInfo *si, unsigned char **der_out)
{
    KS_SIGNED_ATTRS *attrs;
    int i, n = CMS_signed_get_attr_count(si), len = 0;

    *der_out = NULL;
    if (n <= 0)
        return 0;
    attrs = sk_X509_ATTRIBUTE_new_null();
    if (attrs == NULL)
        return 0;
    for (i = 0; i < n; i++) {
        if (!sk_X509_ATTRIBUTE_push(attrs, CMS_signed_get_attr(si, i)))
            goto cleanup;
    }
    len = ASN1_item_i2d((ASN1_VALUE *)attrs, der_out,
                        ASN1_ITEM_rptr(KS_SIGNED_ATTRS));
    if (len <= 0) {
        *der_out = NULL;
        len = 0;
    }

cleanup:
    sk_X509_ATTRIBUTE_free(attrs);      /* the attributes belong to si */
    return len;
}

/* Embed data as the eContent of cms and sign si with the Ed25519 key:
 * the signed attributes, then a pure Ed25519 signature over their DER. */
static krb5_error_code
ed25519_finish(krb5_context ctx, CMS_ContentInfo *cms, CMS_SignerInfo *si,
               EVP_PKEY *key, const ASN1_OBJECT *oid,
               const unsigned char *data, size_t len)
{
    krb5_error_code ret = KRB5_CRYPTO_INTERNAL;
    ASN1_OCTET_STRING **pos = CMS_get0_content(cms), *content = NULL;
    ASN1_TIME *now = NULL;
    EVP_MD_CTX *mctx = NULL;
    X509_ALGOR *sigalg = NULL;
    unsigned char md[64], *attrs = NULL, *sig = NULL;
    unsigned int mdlen = 0;
    size_t siglen = 0;
    int alen;

    /* OpenSSL 3.0 leaves the signatureAlgorithm of an Ed25519 signer
     * empty; RFC 8419 section 2.3: id-Ed25519, parameters absent. */
    CMS_SignerInfo_get0_algs(si, NULL, NULL, NULL, &sigalg);
    if (sigalg == NULL ||
        !X509_ALGOR_set0(sigalg, OBJ_nid2obj(NID_ED25519), V_ASN1_UNDEF,
                         NULL))
        goto cleanup;
    content = ASN1_OCTET_STRING_new();
    if (pos == NULL || content == NULL ||
        !ASN1_OCTET_STRING_set(content, data, (int)len))
        goto cleanup;
    ASN1_OCTET_STRING_free(*pos);
    *pos = content;
    content = NULL;

    now = X509_gmtime_adj(NULL, 0);
    if (now == NULL ||
        EVP_Digest(data, len, md, &mdlen, EVP_sha512(), NULL) != 1 ||
        !CMS_signed_add1_attr_by_NID(si, NID_pkcs9_contentType,
                                     V_ASN1_OBJECT, oid, -1) ||
        !CMS_signed_add1_attr_by_NID(si, NID_pkcs9_signingTime,
                                     now->type, now, -1) ||
        !CMS_signed_add1_attr_by_NID(si, NID_pkcs9_messageDigest,
                                     V_ASN1_OCTET_STRING, md, (int)mdlen))
        goto cleanup;
    alen = signed_attrs_der(si, &attrs);
    mctx = EVP_MD_CTX_new();
    if (alen <= 0 || mctx == NULL ||
        EVP_DigestSignInit_ex(mctx, NULL, NULL, NULL, NULL, key, NULL) != 1 ||
        EVP_DigestSign(mctx, NULL, &siglen, attrs, (size_t)alen) != 1)
        goto cleanup;
    sig = OPENSSL_malloc(siglen);
    if (sig == NULL ||
        EVP_DigestSign(mctx, sig, &siglen, attrs, (size_t)alen) != 1)
        goto cleanup;
    ASN1_STRING_set0(CMS_SignerInfo_get0_signature(si), sig, (int)siglen);
    sig = NULL;
    ret = 0;

cleanup:
    if (ret)
        openssl_error(ctx, "make an Ed25519 signature");
    OPENSSL_free(sig);
    OPENSSL_free(attrs);
    EVP_MD_CTX_free(mctx);
    ASN1_TIME_free(now);
    ASN1_OCTET_STRING_free(content);
    return ret;
}

/* Verify the Ed25519 SignerInfo si over content (RFC 8419): SHA-512
 * digest algorithm, a message-digest attribute equal to SHA-512(content),
 * and the signature over the DER signed attributes.  Returns 1 when all
 * hold. */
static int
ed25519_verify(CMS_SignerInfo *si, EVP_PKEY *pub,
               const ASN1_OCTET_STRING *content)
{
    X509_ALGOR *dig = NULL, *sigalg = NULL;
    const ASN1_OBJECT *obj;
    ASN1_OCTET_STRING *want_md, *sig;
    EVP_MD_CTX *mctx = NULL;
    unsigned char md[64], *attrs = NULL;
    unsigned int mdlen = 0;
    int alen, ok = 0;

    CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sigalg);
    X509_ALGOR_get0(&obj, NULL, NULL, dig);
    if (OBJ_obj2nid(obj) != NID_sha512)
        return 0;
    X509_ALGOR_get0(&obj, NULL, NULL, sigalg);
    if (OBJ_obj2nid(obj) != NID_ED25519)
        return 0;
    /* -3: exactly one attribute of the type. */
    want_md = CMS_signed_get0_data_by_OBJ(si,
                                          OBJ_nid2obj(NID_pkcs9_messageDigest),
                                          -3, V_ASN1_OCTET_STRING);
    if (want_md == NULL)
        return 0;
    if (EVP_Digest(ASN1_STRING_get0_data(content),
                   (size_t)ASN1_STRING_length(content), md, &mdlen,
                   EVP_sha512(), NULL) != 1 ||
        ASN1_STRING_length(want_md) != (int)mdlen ||
        CRYPTO_memcmp(ASN1_STRING_get0_data(want_md), md, mdlen) != 0)
        return 0;
    alen = signed_attrs_der(si, &attrs);
    sig = CMS_SignerInfo_get0_signature(si);
    mctx = EVP_MD_CTX_new();
    if (alen > 0 && sig != NULL && mctx != NULL &&
        EVP_DigestVerifyInit_ex(mctx, NULL, NULL, NULL, NULL, pub,
                                NULL) == 1 &&
        EVP_DigestVerify(mctx, ASN1_STRING_get0_data(sig),
                         (size_t)ASN1_STRING_length(sig), attrs,
                         (size_t)alen) == 1)
        ok = 1;
    EVP_MD_CTX_free(mctx);
    OPENSSL_free(attrs);
    return ok;
}

krb5_error_code
ks_cms_sign(krb5_context ctx, EVP_PKEY *key, X509 *cert,
            STACK_OF(X509) *chain, const char *econtent_oid,
            const unsigned char *data, size_t len, unsigned char **der_out,
            size_t *len_out)
{
    krb5_error_code ret;
    const unsigned int flags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
    CMS_ContentInfo *cms = NULL;
    CMS_SignerInfo *si;
    EVP_PKEY_CTX *pctx;
    ASN1_OBJECT *oid = NULL;
    BIO *in = NULL;
    const EVP_MD *md;
    krb5_boolean pss;
    unsigned char *der = NULL, *p;
    int i, n;

    *der_out = NULL;
    *len_out = 0;
    if (key == NULL || cert == NULL || econtent_oid == NULL ||
        (data == NULL && len > 0) || len > INT_MAX)
        return EINVAL;
    ret = signing_params(ctx, key, &md, &pss);
    if (ret)
        return ret;
    oid = OBJ_txt2obj(econtent_oid, 1);
    if (oid == NULL) {
        krb5_set_error_message(ctx, EINVAL, "cms: invalid eContentType OID "
                               "'%s'", econtent_oid);
        return EINVAL;
    }

    cms = CMS_sign(NULL, NULL, NULL, NULL, flags);
    if (cms == NULL || CMS_set1_eContentType(cms, oid) != 1) {
        ret = openssl_error(ctx, "create a SignedData");
        goto cleanup;
    }
    si = CMS_add1_signer(cms, cert, key, md,
                         flags | (pss ? CMS_KEY_PARAM : 0));
    if (si == NULL) {
        ret = openssl_error(ctx, "add the signer (does the key match the "
                            "certificate?)");
        goto cleanup;
    }
    if (pss) {
        pctx = CMS_SignerInfo_get0_pkey_ctx(si);
        if (pctx == NULL ||
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST)
            <= 0 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0) {
            ret = openssl_error(ctx, "select RSASSA-PSS");
            goto cleanup;
        }
    }
    n = (chain != NULL) ? sk_X509_num(chain) : 0;
    for (i = 0; i < n; i++) {
        if (CMS_add1_cert(cms, sk_X509_value(chain, i)) != 1) {
            ret = openssl_error(ctx, "add a chain certificate");
            goto cleanup;
        }
    }
    if (EVP_PKEY_is_a(key, "ED25519")) {
        ret = ed25519_finish(ctx, cms, si, key, oid, data, len);
        if (ret)
            goto cleanup;
    } else {
        in = BIO_new_mem_buf(data != NULL ? data :
                             (const unsigned char *)"", (int)len);
        if (in == NULL || CMS_final(cms, in, NULL, flags) != 1) {
            ret = openssl_error(ctx, "sign");
            goto cleanup;
        }
    }

    n = i2d_CMS_ContentInfo(cms, NULL);
    if (n <= 0) {
        ret = openssl_error(ctx, "encode the ContentInfo");
        goto cleanup;
    }
    der = malloc(n);
    if (der == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    p = der;
    if (i2d_CMS_ContentInfo(cms, &p) != n) {
        ret = openssl_error(ctx, "encode the ContentInfo");
        goto cleanup;
    }
    *der_out = der;
    *len_out = n;
    der = NULL;
    ret = 0;

cleanup:
    free(der);
    BIO_free(in);
    CMS_ContentInfo_free(cms);
    ASN1_OBJECT_free(oid);
    return ret;
}

/* Set a "malformed" message (printf-style) and return ASN1_PARSE_ERROR with
 * KS_DEVREG_E_MALFORMED. */
static krb5_error_code
malformed(krb5_context ctx, int32_t *code, const char *msg)
{
    *code = KS_DEVREG_E_MALFORMED;
    krb5_set_error_message(ctx, ASN1_PARSE_ERROR, "cms: malformed "
                           "SignedData: %s", msg);
    return ASN1_PARSE_ERROR;
}

/* Check that the digest algorithm of si is SHA-256 or stronger. */
static krb5_boolean
digest_acceptable(CMS_SignerInfo *si)
{
    X509_ALGOR *dig = NULL, *sig = NULL;
    const ASN1_OBJECT *obj;
    int nid;

    CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
    if (dig == NULL || sig == NULL)
        return FALSE;
    X509_ALGOR_get0(&obj, NULL, NULL, dig);
    nid = OBJ_obj2nid(obj);
    return nid == NID_sha256 || nid == NID_sha384 || nid == NID_sha512;
}

/* Check the EKU (and digitalSignature key usage, when a keyUsage
 * extension is present) of signer against trust. */
static krb5_error_code
check_eku(krb5_context ctx, X509 *signer, const struct ks_cms_trust *trust,
          int32_t *code)
{
    krb5_error_code ret = 0;
    EXTENDED_KEY_USAGE *eku = NULL;
    ASN1_OBJECT *want = NULL;
    char subj[256];
    int crit = -1, i;
    krb5_boolean found = FALSE;

    if ((X509_get_extension_flags(signer) & EXFLAG_KUSAGE) &&
        !(X509_get_key_usage(signer) & KU_DIGITAL_SIGNATURE)) {
        *code = KS_DEVREG_E_WRONG_EKU;
        ret = KRB5KDC_ERR_INCONSISTENT_KEY_PURPOSE;
        krb5_set_error_message(ctx, ret, "cms: signer certificate (%s) has "
                               "a keyUsage without digitalSignature",
                               subject_string(signer, subj, sizeof(subj)));
        return ret;
    }
    if (trust->eku_oid == NULL)
        return 0;
    want = OBJ_txt2obj(trust->eku_oid, 1);
    if (want == NULL) {
        krb5_set_error_message(ctx, EINVAL, "cms: invalid EKU OID '%s'",
                               trust->eku_oid);
        return EINVAL;
    }
    eku = X509_get_ext_d2i(signer, NID_ext_key_usage, &crit, NULL);
    if (eku == NULL && crit == -1 && trust->eku_absent_ok)
        goto cleanup;
    for (i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++) {
        if (OBJ_cmp(sk_ASN1_OBJECT_value(eku, i), want) == 0)
            found = TRUE;
    }
    if (!found) {
        *code = KS_DEVREG_E_WRONG_EKU;
        ret = KRB5KDC_ERR_INCONSISTENT_KEY_PURPOSE;
        krb5_set_error_message(ctx, ret, "cms: signer certificate (%s) %s "
                               "extended key usage %s",
                               subject_string(signer, subj, sizeof(subj)),
                               (eku == NULL && crit == -1) ? "has no "
                               "extendedKeyUsage extension; it needs" :
                               "lacks the required", trust->eku_oid);
    }

cleanup:
    EXTENDED_KEY_USAGE_free(eku);
    ASN1_OBJECT_free(want);
    return ret;
}

/* Check that signer chains to trust->anchors (certs as intermediates) at
 * the verification time and carries the required EKU. */
static krb5_error_code
check_chain(krb5_context ctx, X509 *signer, STACK_OF(X509) *certs,
            const struct ks_cms_trust *trust, int32_t *code)
{
    krb5_error_code ret;
    X509_STORE_CTX *sctx;
    char subj[256];
    int err, depth;

    sctx = X509_STORE_CTX_new();
    if (sctx == NULL || X509_STORE_CTX_init(sctx, trust->anchors, signer,
                                            certs) != 1) {
        X509_STORE_CTX_free(sctx);
        return openssl_error(ctx, "set up certificate verification");
    }
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(sctx),
                               trust->verify_time != 0 ? trust->verify_time :
                               time(NULL));
    if (X509_verify_cert(sctx) == 1) {
        X509_STORE_CTX_free(sctx);
        ERR_clear_error();
        return check_eku(ctx, signer, trust, code);
    }
    err = X509_STORE_CTX_get_error(sctx);
    depth = X509_STORE_CTX_get_error_depth(sctx);
    X509_STORE_CTX_free(sctx);
    ERR_clear_error();
    subject_string(signer, subj, sizeof(subj));
    if (err == X509_V_ERR_CERT_HAS_EXPIRED) {
        *code = KS_DEVREG_E_CERT_EXPIRED;
        ret = KRB5KDC_ERR_INVALID_CERTIFICATE;
        krb5_set_error_message(ctx, ret, "cms: %s certificate has expired "
                               "(signer %s)", depth == 0 ? "signer" :
                               "a CA", subj);
    } else if (err == X509_V_ERR_CERT_NOT_YET_VALID) {
        *code = KS_DEVREG_E_CERT_NOT_YET_VALID;
        ret = KRB5KDC_ERR_INVALID_CERTIFICATE;
        krb5_set_error_message(ctx, ret, "cms: %s certificate is not yet "
                               "valid (signer %s)", depth == 0 ? "signer" :
                               "a CA", subj);
    } else {
        *code = KS_DEVREG_E_UNTRUSTED_CERT;
        ret = KRB5KDC_ERR_CANT_VERIFY_CERTIFICATE;
        krb5_set_error_message(ctx, ret, "cms: signer certificate (%s) does "
                               "not chain to a trust anchor: %s (depth %d)",
                               subj, X509_verify_cert_error_string(err),
                               depth);
    }
    return ret;
}

/* Check that signer's public key is the pinned SubjectPublicKeyInfo. */
static krb5_error_code
check_pinned(krb5_context ctx, X509 *signer, const struct ks_cms_trust *trust,
             int32_t *code)
{
    krb5_error_code ret = 0;
    const unsigned char *p = trust->pinned_spki;
    unsigned char *der = NULL;
    EVP_PKEY *pinned, *pub;
    char subj[256];
    int len;

    if (p == NULL || trust->pinned_spki_len == 0 ||
        trust->pinned_spki_len > KS_ASN1_MAX_INPUT)
        return EINVAL;
    /* Fast path: the certificate's SubjectPublicKeyInfo is byte for byte
     * the pinned one (decoding both keys costs more than the signature
     * check).  Equal keys in other encodings (a compressed EC point, say)
     * are compared as keys below. */
    len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(signer), &der);
    if (len > 0 && (size_t)len == trust->pinned_spki_len &&
        memcmp(der, trust->pinned_spki, len) == 0) {
        OPENSSL_free(der);
        return 0;
    }
    OPENSSL_free(der);
    pinned = d2i_PUBKEY(NULL, &p, (long)trust->pinned_spki_len);
    if (pinned == NULL || p != trust->pinned_spki + trust->pinned_spki_len) {
        EVP_PKEY_free(pinned);
        ERR_clear_error();
        krb5_set_error_message(ctx, EINVAL, "cms: the pinned public key is "
                               "not a DER SubjectPublicKeyInfo");
        return EINVAL;
    }
    pub = X509_get0_pubkey(signer);
    if (pub == NULL || EVP_PKEY_eq(pub, pinned) != 1) {
        *code = KS_DEVREG_E_BAD_SIGNATURE;
        ret = KRB5KDC_ERR_CERTIFICATE_MISMATCH;
        krb5_set_error_message(ctx, ret, "cms: signer key (certificate %s) "
                               "is not the pinned (staged) public key",
                               subject_string(signer, subj, sizeof(subj)));
    }
    EVP_PKEY_free(pinned);
    ERR_clear_error();
    return ret;
}

krb5_error_code
ks_cms_verify(krb5_context ctx, const unsigned char *der, size_t len,
              const char *econtent_oid, const struct ks_cms_trust *trust,
              unsigned char **content_out, size_t *content_len_out,
              X509 **signer_out, int32_t *devreg_code_out)
{
    krb5_error_code ret;
    CMS_ContentInfo *cms = NULL;
    STACK_OF(CMS_SignerInfo) *sis;
    STACK_OF(X509) *certs = NULL;
    CMS_SignerInfo *si;
    ASN1_OBJECT *want = NULL, *ctype;
    const ASN1_OBJECT *etype;
    ASN1_OCTET_STRING **pos;
    X509 *signer = NULL;
    const unsigned char *p = der;
    unsigned char *content = NULL;
    size_t clen;
    int32_t code = 0, *codep = devreg_code_out ? devreg_code_out : &code;
    int i;

    *content_out = NULL;
    *content_len_out = 0;
    if (signer_out != NULL)
        *signer_out = NULL;
    *codep = 0;
    if (econtent_oid == NULL || trust == NULL ||
        (trust->anchors == NULL && trust->pinned_spki == NULL))
        return EINVAL;
    want = OBJ_txt2obj(econtent_oid, 1);
    if (want == NULL) {
        krb5_set_error_message(ctx, EINVAL, "cms: invalid eContentType OID "
                               "'%s'", econtent_oid);
        return EINVAL;
    }

    if (der == NULL || len == 0 || len > KS_ASN1_MAX_INPUT) {
        ret = malformed(ctx, codep, "empty or oversized input");
        goto cleanup;
    }
    cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
    if (cms == NULL) {
        ret = malformed(ctx, codep, "not a DER ContentInfo");
        goto cleanup;
    }
    if (p != der + len) {
        ret = malformed(ctx, codep, "trailing bytes after the ContentInfo");
        goto cleanup;
    }
    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
        ret = malformed(ctx, codep, "content type is not SignedData");
        goto cleanup;
    }
    etype = CMS_get0_eContentType(cms);
    if (etype == NULL || OBJ_cmp(etype, want) != 0) {
        ret = malformed(ctx, codep, "unexpected eContentType");
        goto cleanup;
    }
    pos = CMS_get0_content(cms);
    if (pos == NULL || *pos == NULL) {
        ret = malformed(ctx, codep, "no eContent (detached signature)");
        goto cleanup;
    }
    sis = CMS_get0_SignerInfos(cms);
    if (sis == NULL || sk_CMS_SignerInfo_num(sis) != 1) {
        ret = malformed(ctx, codep, "not exactly one SignerInfo");
        goto cleanup;
    }
    si = sk_CMS_SignerInfo_value(sis, 0);
    if (si == NULL || !digest_acceptable(si)) {
        ret = malformed(ctx, codep, "digest algorithm absent or weaker "
                        "than SHA-256");
        goto cleanup;
    }
    if (CMS_signed_get_attr_count(si) <= 0) {
        ret = malformed(ctx, codep, "no signed attributes");
        goto cleanup;
    }

    /* Find the signer certificate among the included ones. */
    certs = CMS_get1_certs(cms);
    for (i = 0; certs != NULL && i < sk_X509_num(certs); i++) {
        if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(certs, i)) == 0) {
            signer = sk_X509_value(certs, i);
            break;
        }
    }
    if (signer == NULL) {
        ret = malformed(ctx, codep, "signer certificate not included");
        goto cleanup;
    }
    CMS_SignerInfo_set1_signer_cert(si, signer);

    /*
     * The content-type attribute is what authenticates eContentType;
     * OpenSSL does not compare the two, so a SignedData relabelled with
     * another eContentType would otherwise verify.
     */
    ctype = CMS_signed_get0_data_by_OBJ(si,
                                        OBJ_nid2obj(NID_pkcs9_contentType),
                                        -3, V_ASN1_OBJECT);
    if (ctype == NULL || OBJ_cmp(ctype, etype) != 0) {
        *codep = KS_DEVREG_E_BAD_SIGNATURE;
        ret = KRB5KDC_ERR_INVALID_SIG;
        krb5_set_error_message(ctx, ret, "cms: the signed content-type "
                               "attribute is %s the eContentType",
                               ctype == NULL ? "missing, not" :
                               "different from");
        goto cleanup;
    }
    if (EVP_PKEY_is_a(X509_get0_pubkey(signer), "ED25519") ?
        !ed25519_verify(si, X509_get0_pubkey(signer), *pos) :
        CMS_verify(cms, NULL, NULL, NULL, NULL,
                   CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
        unsigned long e = ERR_peek_last_error();
        const char *why = (e != 0) ? ERR_reason_error_string(e) : NULL;

        *codep = KS_DEVREG_E_BAD_SIGNATURE;
        ret = KRB5KDC_ERR_INVALID_SIG;
        krb5_set_error_message(ctx, ret, "cms: signature verification "
                               "failed (%s)", why != NULL ? why :
                               "signature or message digest mismatch");
        ERR_clear_error();
        goto cleanup;
    }

    if (trust->anchors != NULL)
        ret = check_chain(ctx, signer, certs, trust, codep);
    else
        ret = check_pinned(ctx, signer, trust, codep);
    if (ret)
        goto cleanup;

    clen = (size_t)ASN1_STRING_length(*pos);
    content = malloc(clen > 0 ? clen : 1);
    if (content == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    if (clen > 0)
        memcpy(content, ASN1_STRING_get0_data(*pos), clen);
    if (signer_out != NULL) {
        if (X509_up_ref(signer) != 1) {
            ret = openssl_error(ctx, "reference the signer certificate");
            goto cleanup;
        }
        *signer_out = signer;
    }
    *content_out = content;
    *content_len_out = clen;
    content = NULL;
    ret = 0;

cleanup:
    free(content);
    sk_X509_pop_free(certs, X509_free);
    CMS_ContentInfo_free(cms);
    ASN1_OBJECT_free(want);
    ERR_clear_error();
    return ret;
}

krb5_error_code
ks_cms_cert_pkinit_principal(krb5_context ctx, X509 *cert,
                             krb5_principal *out)
{
    krb5_error_code ret;
    GENERAL_NAMES *gens;
    ASN1_OBJECT *san = NULL, *oid;
    ASN1_TYPE *value;
    const ASN1_STRING *seq = NULL;
    int crit = -1, i, found = 0;

    *out = NULL;
    gens = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
    if (gens == NULL && crit != -1) {
        krb5_set_error_message(ctx, EINVAL, "cms: certificate has an "
                               "undecodable or repeated subjectAltName");
        return EINVAL;
    }
    san = OBJ_txt2obj(KS_OID_PKINIT_SAN, 1);
    if (san == NULL) {
        GENERAL_NAMES_free(gens);
        return ENOMEM;
    }
    for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
        if (!GENERAL_NAME_get0_otherName(sk_GENERAL_NAME_value(gens, i),
                                         &oid, &value) ||
            OBJ_cmp(oid, san) != 0)
            continue;
        found++;
        seq = (value != NULL && value->type == V_ASN1_SEQUENCE) ?
            value->value.sequence : NULL;
    }
    if (found == 0) {
        ret = ENOENT;
        krb5_set_error_message(ctx, ret, "cms: certificate has no "
                               "id-pkinit-san principal name");
    } else if (found > 1) {
        ret = EINVAL;
        krb5_set_error_message(ctx, ret, "cms: certificate has %d "
                               "id-pkinit-san principal names; expected one",
                               found);
    } else if (seq == NULL || seq->length <= 0) {
        ret = EINVAL;
        krb5_set_error_message(ctx, ret, "cms: certificate's id-pkinit-san "
                               "is not a KRB5PrincipalName");
    } else {
        ret = ks_krb5_principal_name_decode(ctx, seq->data,
                                            (size_t)seq->length, out);
        if (ret)
            krb5_set_error_message(ctx, ret, "cms: certificate's "
                                   "id-pkinit-san is not a valid "
                                   "KRB5PrincipalName");
    }
    GENERAL_NAMES_free(gens);
    ASN1_OBJECT_free(san);
    return ret;
}

krb5_error_code
ks_cms_cert_dns_names(krb5_context ctx, X509 *cert, char ***names_out)
{
    krb5_error_code ret = 0;
    GENERAL_NAMES *gens;
    GENERAL_NAME *gn;
    char **names = NULL;
    size_t n = 0;
    int crit = -1, i, count;

    *names_out = NULL;
    gens = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
    if (gens == NULL && crit != -1) {
        krb5_set_error_message(ctx, EINVAL, "cms: certificate has an "
                               "undecodable or repeated subjectAltName");
        return EINVAL;
    }
    count = (gens != NULL) ? sk_GENERAL_NAME_num(gens) : 0;
    names = calloc((size_t)count + 1, sizeof(*names));
    if (names == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    for (i = 0; i < count; i++) {
        const unsigned char *data;
        int len;

        gn = sk_GENERAL_NAME_value(gens, i);
        if (gn->type != GEN_DNS)
            continue;
        data = ASN1_STRING_get0_data(gn->d.dNSName);
        len = ASN1_STRING_length(gn->d.dNSName);
        if (len <= 0 || memchr(data, '\0', (size_t)len) != NULL) {
            ret = EINVAL;
            krb5_set_error_message(ctx, ret, "cms: certificate has an empty "
                                   "dNSName or one with a NUL byte");
            goto cleanup;
        }
        names[n] = strndup((const char *)data, (size_t)len);
        if (names[n] == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        n++;
    }
    *names_out = names;
    names = NULL;

cleanup:
    ks_cms_free_names(names);
    GENERAL_NAMES_free(gens);
    return ret;
}

void
ks_cms_free_names(char **names)
{
    size_t i;

    if (names == NULL)
        return;
    for (i = 0; names[i] != NULL; i++)
        free(names[i]);
    free(names);
}

/* Read the whole file path (at most KS_PEM_MAX bytes) into *buf_out and
 * *len_out; when private, refuse a file accessible by group or others. */
static krb5_error_code
read_pem_file(krb5_context ctx, const char *path, krb5_boolean private,
              unsigned char **buf_out, size_t *len_out)
{
    krb5_error_code ret;
    struct stat st;
    unsigned char *buf = NULL;
    size_t len = 0;
    ssize_t n;
    int fd;

    *buf_out = NULL;
    *len_out = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ret = errno;
        krb5_set_error_message(ctx, ret, "cannot open %s: %s", path,
                               strerror(ret));
        return ret;
    }
    if (fstat(fd, &st) != 0) {
        ret = errno;
        krb5_set_error_message(ctx, ret, "cannot stat %s: %s", path,
                               strerror(ret));
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > KS_PEM_MAX) {
        ret = EINVAL;
        krb5_set_error_message(ctx, ret, "%s is not a regular file of at "
                               "most %d bytes", path, KS_PEM_MAX);
        goto cleanup;
    }
    if (private && (st.st_mode & 077) != 0) {
        ret = EACCES;
        krb5_set_error_message(ctx, ret, "private key file %s is accessible "
                               "by group or others (mode %03o); chmod 600 it",
                               path, (unsigned int)(st.st_mode & 0777));
        goto cleanup;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    while (len < (size_t)st.st_size) {
        n = read(fd, buf + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ret = (n < 0) ? errno : EIO;
            krb5_set_error_message(ctx, ret, "cannot read %s: %s", path,
                                   strerror(ret));
            goto cleanup;
        }
        len += (size_t)n;
    }
    *buf_out = buf;
    *len_out = len;
    buf = NULL;
    ret = 0;

cleanup:
    if (buf != NULL)
        ks_zfree(buf, (size_t)st.st_size + 1);
    close(fd);
    return ret;
}

/* Read every PEM certificate of buf (len bytes) into a new stack. */
static krb5_error_code
pem_certs(krb5_context ctx, const char *path, const unsigned char *buf,
          size_t len, STACK_OF(X509) **certs_out)
{
    STACK_OF(X509) *certs;
    BIO *bio;
    X509 *x;

    *certs_out = NULL;
    certs = sk_X509_new_null();
    bio = BIO_new_mem_buf(buf, (int)len);
    if (certs == NULL || bio == NULL) {
        sk_X509_free(certs);
        BIO_free(bio);
        return ENOMEM;
    }
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(certs, x)) {
            X509_free(x);
            sk_X509_pop_free(certs, X509_free);
            BIO_free(bio);
            return ENOMEM;
        }
    }
    ERR_clear_error();
    BIO_free(bio);
    if (sk_X509_num(certs) == 0) {
        sk_X509_free(certs);
        krb5_set_error_message(ctx, EINVAL, "no PEM certificate in %s",
                               path);
        return EINVAL;
    }
    *certs_out = certs;
    return 0;
}

/* PEM password callback refusing encrypted keys. */
static int
no_password(char *buf, int size, int rwflag, void *arg)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)arg;
    return -1;
}

/* Split "FILE:a,b" into malloc'ed *first and *second (NULL when there is
 * no comma), or, when second is NULL, "FILE:a" into *first. */
static krb5_error_code
parse_file_spec(krb5_context ctx, const char *spec, const char *what,
                char **first, char **second)
{
    const char *rest, *comma = NULL;
    char *a = NULL, *b = NULL;

    *first = NULL;
    if (second != NULL)
        *second = NULL;
    if (spec == NULL || strncmp(spec, "FILE:", 5) != 0) {
        krb5_set_error_message(ctx, EINVAL, "%s '%s': expected %s", what,
                               spec ? spec : "", second ?
                               "FILE:cert.pem,key.pem" : "FILE:ca.pem");
        return EINVAL;
    }
    rest = spec + 5;
    if (second != NULL)
        comma = strchr(rest, ',');
    a = (comma != NULL) ? strndup(rest, (size_t)(comma - rest)) :
        strdup(rest);
    if (comma != NULL)
        b = strdup(comma + 1);
    if (a == NULL || (comma != NULL && b == NULL)) {
        free(a);
        free(b);
        return ENOMEM;
    }
    if (*a == '\0' || (b != NULL && *b == '\0')) {
        krb5_set_error_message(ctx, EINVAL, "%s '%s': empty file name",
                               what, spec);
        free(a);
        free(b);
        return EINVAL;
    }
    *first = a;
    if (second != NULL)
        *second = b;
    return 0;
}

krb5_error_code
ks_identity_load(krb5_context ctx, const char *spec, EVP_PKEY **key_out,
                 X509 **cert_out, STACK_OF(X509) **chain_out)
{
    krb5_error_code ret;
    char *certpath = NULL, *keypath = NULL;
    unsigned char *certbuf = NULL, *keybuf = NULL;
    size_t certlen = 0, keylen = 0;
    STACK_OF(X509) *certs = NULL;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    BIO *bio = NULL;

    *key_out = NULL;
    *cert_out = NULL;
    *chain_out = NULL;
    ret = parse_file_spec(ctx, spec, "identity", &certpath, &keypath);
    if (ret)
        return ret;
    /* A combined file holds the key, so it gets the key file's check. */
    ret = read_pem_file(ctx, keypath != NULL ? keypath : certpath, TRUE,
                        &keybuf, &keylen);
    if (ret)
        goto cleanup;
    if (keypath != NULL) {
        ret = read_pem_file(ctx, certpath, FALSE, &certbuf, &certlen);
        if (ret)
            goto cleanup;
    }
    ret = pem_certs(ctx, certpath, certbuf != NULL ? certbuf : keybuf,
                    certbuf != NULL ? certlen : keylen, &certs);
    if (ret)
        goto cleanup;

    bio = BIO_new_mem_buf(keybuf, (int)keylen);
    if (bio == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    key = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    if (key == NULL) {
        ERR_clear_error();
        ret = EINVAL;
        krb5_set_error_message(ctx, ret, "no usable private key in %s (PEM, "
                               "not encrypted)", keypath ? keypath : certpath);
        goto cleanup;
    }
    cert = sk_X509_shift(certs);
    if (X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        ret = EINVAL;
        krb5_set_error_message(ctx, ret, "the private key in %s does not "
                               "match the certificate in %s",
                               keypath ? keypath : certpath, certpath);
        goto cleanup;
    }
    *key_out = key;
    *cert_out = cert;
    *chain_out = certs;
    key = NULL;
    cert = NULL;
    certs = NULL;

cleanup:
    BIO_free(bio);
    EVP_PKEY_free(key);
    X509_free(cert);
    sk_X509_pop_free(certs, X509_free);
    if (keybuf != NULL)
        ks_zfree(keybuf, keylen);
    free(certbuf);
    free(certpath);
    free(keypath);
    return ret;
}

krb5_error_code
ks_anchors_load(krb5_context ctx, const char *spec, X509_STORE **store_out)
{
    krb5_error_code ret;
    char *path = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    STACK_OF(X509) *certs = NULL;
    X509_STORE *store = NULL;
    int i;

    *store_out = NULL;
    ret = parse_file_spec(ctx, spec, "anchors", &path, NULL);
    if (ret)
        return ret;
    ret = read_pem_file(ctx, path, FALSE, &buf, &len);
    if (ret)
        goto cleanup;
    ret = pem_certs(ctx, path, buf, len, &certs);
    if (ret)
        goto cleanup;
    store = X509_STORE_new();
    if (store == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    for (i = 0; i < sk_X509_num(certs); i++) {
        if (X509_STORE_add_cert(store, sk_X509_value(certs, i)) != 1) {
            ret = openssl_error(ctx, "add a trust anchor");
            goto cleanup;
        }
    }
    *store_out = store;
    store = NULL;

cleanup:
    X509_STORE_free(store);
    sk_X509_pop_free(certs, X509_free);
    free(buf);
    free(path);
    return ret;
}

/* ---- EnvelopedData: sealing temporary keys to a KDC --------------------- */

/* The RecipientInfo type that delivers a content key to key: key agreement
 * for P-256, key transport for RSA of 2048 bits or more, -1 otherwise. */
static int
sealing_ri_type(EVP_PKEY *key)
{
    char group[64];

    if (key == NULL)
        return -1;
    if (EVP_PKEY_is_a(key, "EC")) {
        if (EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) == 1 &&
            (strcmp(group, "prime256v1") == 0 ||
             strcmp(group, "P-256") == 0))
            return CMS_RECIPINFO_AGREE;
    } else if (EVP_PKEY_is_a(key, "RSA")) {
        if (EVP_PKEY_get_bits(key) >= 2048)
            return CMS_RECIPINFO_TRANS;
    }
    return -1;
}

/* Set a "malformed EnvelopedData" message and return ASN1_PARSE_ERROR. */
static krb5_error_code
sealed_malformed(krb5_context ctx, const char *msg)
{
    krb5_set_error_message(ctx, ASN1_PARSE_ERROR, "cms: malformed "
                           "EnvelopedData: %s", msg);
    return ASN1_PARSE_ERROR;
}

/* Set the "not sealed to this certificate" message and return
 * KRB5KDC_ERR_CERTIFICATE_MISMATCH. */
static krb5_error_code
not_sealed_to(krb5_context ctx, X509 *cert, const char *why)
{
    char subj[256];

    ERR_clear_error();
    krb5_set_error_message(ctx, KRB5KDC_ERR_CERTIFICATE_MISMATCH, "cms: the "
                           "keys are not sealed to this KDC's certificate "
                           "(%s): %s",
                           subject_string(cert, subj, sizeof(subj)), why);
    return KRB5KDC_ERR_CERTIFICATE_MISMATCH;
}

krb5_error_code
ks_cms_seal(krb5_context ctx, X509 *recipient, const char *content_oid,
            const unsigned char *data, size_t len, unsigned char **der_out,
            size_t *len_out)
{
    krb5_error_code ret;
    CMS_ContentInfo *cms = NULL;
    CMS_RecipientInfo *ri;
    EVP_PKEY *pub;
    EVP_PKEY_CTX *pctx;
    EVP_CIPHER_CTX *wrap;
    ASN1_OBJECT *oid = NULL;
    BIO *in = NULL;
    unsigned char *der = NULL, *p;
    int type, n;

    *der_out = NULL;
    *len_out = 0;
    if (recipient == NULL || content_oid == NULL ||
        (data == NULL && len > 0) || len > INT_MAX)
        return EINVAL;
    pub = X509_get0_pubkey(recipient);
    type = sealing_ri_type(pub);
    if (type < 0) {
        krb5_set_error_message(ctx, EINVAL, "cms: cannot seal keys to a %s "
                               "certificate key (use ECDH P-256 or RSA >= "
                               "2048 bits)", pub != NULL ?
                               EVP_PKEY_get0_type_name(pub) : "missing");
        return EINVAL;
    }
    oid = OBJ_txt2obj(content_oid, 1);
    if (oid == NULL) {
        krb5_set_error_message(ctx, EINVAL, "cms: invalid content type OID "
                               "'%s'", content_oid);
        return EINVAL;
    }

    /* CMS_set_detached(cms, 0): without it CMS_final() encrypts into
     * nothing and encryptedContent stays absent. */
    cms = CMS_EnvelopedData_create(EVP_aes_256_cbc());
    if (cms == NULL || CMS_set1_eContentType(cms, oid) != 1 ||
        CMS_set_detached(cms, 0) != 1) {
        ret = openssl_error(ctx, "create an EnvelopedData");
        goto cleanup;
    }
    /* CMS_KEY_PARAM: leave the key transport context open for the OAEP
     * parameters below (key agreement always has one). */
    ri = CMS_add1_recipient(cms, recipient, NULL, NULL, CMS_KEY_PARAM);
    pctx = (ri != NULL) ? CMS_RecipientInfo_get0_pkey_ctx(ri) : NULL;
    if (pctx == NULL) {
        ret = openssl_error(ctx, "add the recipient");
        goto cleanup;
    }
    if (type == CMS_RECIPINFO_AGREE) {
        /*
         * OpenSSL 3.0 defaults the X9.63 KDF digest to SHA-1 and derives
         * the key wrap from the content cipher's key size; name both.
         * The KDF type stays unset: OpenSSL sets X9.63 itself when it
         * writes keyEncryptionAlgorithm and refuses any preset type.
         */
        wrap = CMS_RecipientInfo_kari_get0_ctx(ri);
        if (wrap == NULL ||
            EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) <= 0 ||
            EVP_EncryptInit_ex(wrap, EVP_aes_256_wrap(), NULL, NULL,
                               NULL) != 1) {
            ret = openssl_error(ctx, "select ECDH with the SHA-256 KDF and "
                                "AES-256 key wrap");
            goto cleanup;
        }
    } else {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) <= 0 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0) {
            ret = openssl_error(ctx, "select RSAES-OAEP with SHA-256");
            goto cleanup;
        }
    }
    in = BIO_new_mem_buf(data != NULL ? data : (const unsigned char *)"",
                         (int)len);
    if (in == NULL || CMS_final(cms, in, NULL, CMS_BINARY) != 1) {
        ret = openssl_error(ctx, "encrypt the sealed content");
        goto cleanup;
    }

    n = i2d_CMS_ContentInfo(cms, NULL);
    if (n <= 0) {
        ret = openssl_error(ctx, "encode the ContentInfo");
        goto cleanup;
    }
    der = malloc(n);
    if (der == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    p = der;
    if (i2d_CMS_ContentInfo(cms, &p) != n) {
        ret = openssl_error(ctx, "encode the ContentInfo");
        goto cleanup;
    }
    *der_out = der;
    *len_out = n;
    der = NULL;
    ret = 0;

cleanup:
    free(der);
    BIO_free(in);
    CMS_ContentInfo_free(cms);
    ASN1_OBJECT_free(oid);
    ERR_clear_error();
    return ret;
}

/*
 * Find the RecipientInfo of cms for cert among those of type (the key's).
 * Returns 0 when there is one, KRB5KDC_ERR_CERTIFICATE_MISMATCH when
 * there is none, and ASN1_PARSE_ERROR when a key transport one does not
 * use RSAES-OAEP: opening PKCS #1 v1.5 with CMS_DEBUG_DECRYPT would make
 * the KDC a padding oracle (Bleichenbacher) for whoever may send requests.
 */
static krb5_error_code
find_recipient(krb5_context ctx, CMS_ContentInfo *cms, X509 *cert, int type)
{
    STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
    STACK_OF(CMS_RecipientEncryptedKey) *reks;
    CMS_RecipientInfo *ri;
    X509_ALGOR *alg;
    const ASN1_OBJECT *obj;
    int i, j, found = 0;

    if (ris == NULL || sk_CMS_RecipientInfo_num(ris) == 0)
        return sealed_malformed(ctx, "no RecipientInfo");
    for (i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
        ri = sk_CMS_RecipientInfo_value(ris, i);
        if (ri == NULL || CMS_RecipientInfo_type(ri) != type)
            continue;
        if (type == CMS_RECIPINFO_TRANS) {
            if (CMS_RecipientInfo_ktri_cert_cmp(ri, cert) != 0)
                continue;
            alg = NULL;
            if (CMS_RecipientInfo_ktri_get0_algs(ri, NULL, NULL,
                                                 &alg) != 1 || alg == NULL)
                return sealed_malformed(ctx, "KeyTransRecipientInfo "
                                        "without an algorithm");
            X509_ALGOR_get0(&obj, NULL, NULL, alg);
            if (OBJ_obj2nid(obj) != NID_rsaesOaep)
                return sealed_malformed(ctx, "the key transport for this "
                                        "certificate is not RSAES-OAEP");
            found = 1;
        } else {
            reks = CMS_RecipientInfo_kari_get0_reks(ri);
            for (j = 0; reks != NULL &&
                     j < sk_CMS_RecipientEncryptedKey_num(reks); j++) {
                if (CMS_RecipientEncryptedKey_cert_cmp(
                        sk_CMS_RecipientEncryptedKey_value(reks, j),
                        cert) == 0)
                    found = 1;
            }
        }
    }
    ERR_clear_error();
    return found ? 0 : not_sealed_to(ctx, cert, "no RecipientInfo names it");
}

krb5_error_code
ks_cms_open(krb5_context ctx, EVP_PKEY *key, X509 *cert,
            const char *content_oid, const unsigned char *der, size_t len,
            unsigned char **data_out, size_t *len_out)
{
    krb5_error_code ret;
    CMS_ContentInfo *cms = NULL;
    ASN1_OBJECT *want = NULL;
    const ASN1_OBJECT *ctype;
    ASN1_OCTET_STRING **pos;
    BUF_MEM *bm = NULL;
    BIO *out = NULL;
    const unsigned char *p = der;
    unsigned char *data = NULL;
    int type;

    *data_out = NULL;
    *len_out = 0;
    if (key == NULL || cert == NULL || content_oid == NULL)
        return EINVAL;
    type = sealing_ri_type(key);
    if (type < 0) {
        krb5_set_error_message(ctx, EINVAL, "cms: cannot open sealed keys "
                               "with a %s key (use ECDH P-256 or RSA >= 2048 "
                               "bits)", EVP_PKEY_get0_type_name(key));
        return EINVAL;
    }
    if (X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        krb5_set_error_message(ctx, EINVAL, "cms: the private key does not "
                               "match the certificate to open sealed keys "
                               "with");
        return EINVAL;
    }
    want = OBJ_txt2obj(content_oid, 1);
    if (want == NULL) {
        krb5_set_error_message(ctx, EINVAL, "cms: invalid content type OID "
                               "'%s'", content_oid);
        return EINVAL;
    }

    if (der == NULL || len == 0 || len > KS_ASN1_MAX_INPUT) {
        ret = sealed_malformed(ctx, "empty or oversized input");
        goto cleanup;
    }
    cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
    if (cms == NULL) {
        ret = sealed_malformed(ctx, "not a DER ContentInfo");
        goto cleanup;
    }
    if (p != der + len) {
        ret = sealed_malformed(ctx, "trailing bytes after the ContentInfo");
        goto cleanup;
    }
    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_enveloped) {
        ret = sealed_malformed(ctx, "content type is not EnvelopedData");
        goto cleanup;
    }
    ctype = CMS_get0_eContentType(cms);
    if (ctype == NULL || OBJ_cmp(ctype, want) != 0) {
        ret = sealed_malformed(ctx, "unexpected encrypted content type");
        goto cleanup;
    }
    pos = CMS_get0_content(cms);
    if (pos == NULL || *pos == NULL) {
        ret = sealed_malformed(ctx, "no encrypted content");
        goto cleanup;
    }
    ret = find_recipient(ctx, cms, cert, type);
    if (ret)
        goto cleanup;

    /*
     * CMS_DEBUG_DECRYPT: without it OpenSSL hides a failed key unwrap
     * (against the million message attack on PKCS #1 v1.5) and decrypts
     * with a random key, which yields garbage that may even unpad.  OAEP
     * only is accepted above, so reporting the failure is safe.  The
     * plaintext goes to a secure-heap BIO, whose buffers OpenSSL cleanses
     * when it grows and frees them.
     */
    out = BIO_new(BIO_s_secmem());
    if (out == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    if (CMS_decrypt(cms, key, cert, NULL, out,
                    CMS_BINARY | CMS_DEBUG_DECRYPT) != 1) {
        ret = not_sealed_to(ctx, cert, "unwrapping the content key or "
                            "decrypting the content failed");
        goto cleanup;
    }
    BIO_get_mem_ptr(out, &bm);
    if (bm == NULL) {
        ret = openssl_error(ctx, "read the decrypted content");
        goto cleanup;
    }
    data = malloc(bm->length > 0 ? bm->length : 1);
    if (data == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    if (bm->length > 0)
        memcpy(data, bm->data, bm->length);
    *data_out = data;
    *len_out = bm->length;
    ret = 0;

cleanup:
    BIO_free(out);
    CMS_ContentInfo_free(cms);
    ASN1_OBJECT_free(want);
    ERR_clear_error();
    return ret;
}

krb5_error_code
ks_cms_cert_verify(krb5_context ctx, X509 *cert, STACK_OF(X509) *chain,
                   const struct ks_cms_trust *trust, int32_t *devreg_code_out)
{
    int32_t code = 0;
    krb5_error_code ret;

    if (cert == NULL || trust == NULL || trust->anchors == NULL)
        return EINVAL;
    ret = check_chain(ctx, cert, chain, trust, &code);
    if (devreg_code_out != NULL)
        *devreg_code_out = ret ? code : 0;
    return ret;
}
