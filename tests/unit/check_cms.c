/*
 * Unit tests of the CMS, certificate and identity helpers (lib/ks_cms.h).
 *
 * Every key, CA and certificate is generated here with the OpenSSL API
 * (no committed key files): a P-256 root CA, a second unrelated CA, an
 * intermediate CA, and end-entity certificates with the EKU,
 * subjectAltName (id-pkinit-san KRB5PrincipalName from
 * ks_krb5_principal_name_der, dNSName) and validity each test needs.
 * Signer keys are Ed25519, ECDSA P-256 and RSA-2048 (RSASSA-PSS), made
 * once in main() before Check forks the tests.
 *
 * Sealing (EnvelopedData) is tested to P-256 and RSA-2048 KDC
 * certificates: round trips with the algorithms read back from the DER,
 * wrong recipients, malformed input and refused key types.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <check.h>
#include <krb5/krb5.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ks_asn1.h"
#include "ks_cms.h"
#include "ks_iana.h"
#include "ks_util.h"
#include "unit_util.h"

#define DAY (24 * 60 * 60)

enum key_type { KT_ED25519, KT_P256, KT_RSA, KT_COUNT };

static EVP_PKEY *signer_keys[KT_COUNT], *other_key, *ca_key, *ca2_key,
    *int_key, *other_rsa_key, *small_rsa_key;
static krb5_context ctx;
static X509 *ca, *ca2;
static X509_STORE *store, *store2;

static const unsigned char payload[] = "devreg auth pack: 0123456789abcdef";

/* Options of a test certificate. */
struct cert_opts {
    const char *cn;
    long not_before;            /* seconds from now */
    long not_after;
    krb5_boolean is_ca;
    const char *eku;            /* dotted, NULL: no EKU extension */
    const char *san_princ;      /* id-pkinit-san, NULL: none */
    const char *san_princ2;     /* a second id-pkinit-san */
    const char *dns;            /* dNSName, NULL: none */
    const char *key_usage;      /* keyUsage value, NULL: none */
};

/* Add an id-pkinit-san otherName naming name to gens. */
static void
add_pkinit_san(GENERAL_NAMES *gens, const char *name)
{
    krb5_principal princ;
    unsigned char *der;
    size_t len;
    ASN1_STRING *seq = ASN1_STRING_new();
    ASN1_TYPE *value = ASN1_TYPE_new();
    GENERAL_NAME *gn = GENERAL_NAME_new();

    ck_assert_int_eq(krb5_parse_name(ctx, name, &princ), 0);
    ck_assert_int_eq(ks_krb5_principal_name_der(ctx, princ, &der, &len), 0);
    ck_assert_int_eq(ASN1_STRING_set(seq, der, (int)len), 1);
    ASN1_TYPE_set(value, V_ASN1_SEQUENCE, seq);
    ck_assert_int_eq(GENERAL_NAME_set0_othername(gn,
                                                 OBJ_txt2obj(KS_OID_PKINIT_SAN,
                                                             1), value), 1);
    ck_assert_int_ne(sk_GENERAL_NAME_push(gens, gn), 0);
    free(der);
    krb5_free_principal(ctx, princ);
}

/* A certificate for pub issued by issuer/issuer_key (NULL: self-signed
 * with sign_key). */
static X509 *
make_cert(const struct cert_opts *o, EVP_PKEY *pub, X509 *issuer,
          EVP_PKEY *sign_key)
{
    static long serial = 1;
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    const EVP_MD *md;

    ck_assert_ptr_nonnull(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)o->cn, -1, -1, 0);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) :
                         name);
    X509_NAME_free(name);
    X509_gmtime_adj(X509_getm_notBefore(x), o->not_before);
    X509_gmtime_adj(X509_getm_notAfter(x), o->not_after);
    ck_assert_int_eq(X509_set_pubkey(x, pub), 1);

    if (o->is_ca) {
        BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();

        bc->ca = 0xff;
        ck_assert_int_eq(X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1,
                                       X509V3_ADD_DEFAULT), 1);
        BASIC_CONSTRAINTS_free(bc);
    }
    if (o->eku != NULL) {
        EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();

        sk_ASN1_OBJECT_push(eku, OBJ_txt2obj(o->eku, 1));
        ck_assert_int_eq(X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0,
                                       X509V3_ADD_DEFAULT), 1);
        sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    }
    if (o->key_usage != NULL) {
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage,
                                                  o->key_usage);

        ck_assert_ptr_nonnull(ext);
        ck_assert_int_eq(X509_add_ext(x, ext, -1), 1);
        X509_EXTENSION_free(ext);
    }
    if (o->san_princ != NULL || o->dns != NULL) {
        GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();

        if (o->dns != NULL) {
            GENERAL_NAME *gn = GENERAL_NAME_new();
            ASN1_IA5STRING *s = ASN1_IA5STRING_new();

            ASN1_STRING_set(s, o->dns, -1);
            GENERAL_NAME_set0_value(gn, GEN_DNS, s);
            sk_GENERAL_NAME_push(gens, gn);
        }
        if (o->san_princ != NULL)
            add_pkinit_san(gens, o->san_princ);
        if (o->san_princ2 != NULL)
            add_pkinit_san(gens, o->san_princ2);
        ck_assert_int_eq(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
                                       X509V3_ADD_DEFAULT), 1);
        GENERAL_NAMES_free(gens);
    }
    md = EVP_PKEY_is_a(sign_key, "ED25519") ? NULL : EVP_sha256();
    ck_assert_int_ne(X509_sign(x, sign_key, md), 0);
    return x;
}

/* A device certificate for signer key kt issued by ca. */
static X509 *
device_cert(enum key_type kt, long nb, long na, const char *eku)
{
    struct cert_opts o = { "device d1", nb, na, FALSE, eku,
                           "device/d1@EXAMPLE.TEST", NULL, NULL, NULL };

    return make_cert(&o, signer_keys[kt], ca, ca_key);
}

/* Trust-store mode with the given anchors and EKU. */
static struct ks_cms_trust
store_trust(X509_STORE *s, const char *eku)
{
    struct ks_cms_trust t;

    memset(&t, 0, sizeof(t));
    t.anchors = s;
    t.eku_oid = eku;
    return t;
}

/* Sign the payload with ks_cms_sign under the authpack OID. */
static void
sign_payload(enum key_type kt, X509 *cert, STACK_OF(X509) *chain,
             unsigned char **der, size_t *len)
{
    krb5_error_code ret;

    ret = ks_cms_sign(ctx, signer_keys[kt], cert, chain,
                      KS_OID_DEVREG_AUTHPACK, payload, sizeof(payload), der,
                      len);
    ck_assert_msg(ret == 0, "ks_cms_sign: %s", unit_errmsg(ctx, ret));
}

/* Verify der under trust; return the krb5 code and set *code. */
static krb5_error_code
verify(const unsigned char *der, size_t len, const struct ks_cms_trust *t,
       int32_t *code)
{
    krb5_error_code ret;
    unsigned char *content = (void *)1;
    size_t clen = 1;
    X509 *signer = (void *)1;

    ret = ks_cms_verify(ctx, der, len, KS_OID_DEVREG_AUTHPACK, t, &content,
                        &clen, &signer, code);
    if (ret == 0) {
        ck_assert_uint_eq(clen, sizeof(payload));
        ck_assert_mem_eq(content, payload, clen);
        ck_assert_ptr_nonnull(signer);
        free(content);
        X509_free(signer);
    } else {
        ck_assert_ptr_null(content);
        ck_assert_uint_eq(clen, 0);
        ck_assert_ptr_null(signer);
    }
    return ret;
}

/* DER of a SignedData over the payload assembled with the OpenSSL API:
 * nsigners 1 (key, cert, md), 2 (plus an RSA signer) or 0 (the SignerInfo
 * removed again). */
static void
custom_signed(EVP_PKEY *key, X509 *cert, const EVP_MD *md, const char *oid,
              unsigned int flags, int nsigners, unsigned char **der,
              size_t *len)
{
    CMS_ContentInfo *cms;
    CMS_SignerInfo *removed = NULL;
    BIO *in = BIO_new_mem_buf(payload, sizeof(payload));
    unsigned char *p;
    int n;

    flags |= CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
    cms = CMS_sign(NULL, NULL, NULL, NULL, flags);
    ck_assert_ptr_nonnull(cms);
    if (oid != NULL) {
        ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);

        ck_assert_int_eq(CMS_set1_eContentType(cms, obj), 1);
        ASN1_OBJECT_free(obj);
    }
    ck_assert_ptr_nonnull(CMS_add1_signer(cms, cert, key, md, flags));
    if (nsigners == 2) {
        /* A second signer needs its own certificate. */
        X509 *second = device_cert(KT_RSA, -DAY, DAY, NULL);

        ck_assert_ptr_nonnull(CMS_add1_signer(cms, second,
                                              signer_keys[KT_RSA],
                                              EVP_sha256(), flags));
        X509_free(second);
    }
    ck_assert_int_eq(CMS_final(cms, in, NULL, flags), 1);
    if (nsigners == 0) {
        /* OpenSSL does not finalize a SignedData without signers: take the
         * one made above out while encoding (and put it back to free it,
         * CMS_SignerInfo has no public free function). */
        removed = sk_CMS_SignerInfo_pop(CMS_get0_SignerInfos(cms));
        ck_assert_ptr_nonnull(removed);
        ck_assert_int_eq(sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)), 0);
    }
    n = i2d_CMS_ContentInfo(cms, NULL);
    ck_assert_int_gt(n, 0);
    *der = p = malloc(n);
    ck_assert_int_eq(i2d_CMS_ContentInfo(cms, &p), n);
    *len = n;
    if (removed != NULL)
        sk_CMS_SignerInfo_push(CMS_get0_SignerInfos(cms), removed);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
}

static void
setup(void)
{
    struct cert_opts co = { "Test Manufacturer CA", -10 * DAY, 3650L * DAY,
                            TRUE, NULL, NULL, NULL, NULL, NULL };
    struct cert_opts co2 = { "Other CA", -10 * DAY, 3650L * DAY, TRUE, NULL,
                             NULL, NULL, NULL, NULL };

    ck_assert_int_eq(krb5_init_context(&ctx), 0);
    ca = make_cert(&co, ca_key, NULL, ca_key);
    ca2 = make_cert(&co2, ca2_key, NULL, ca2_key);
    store = X509_STORE_new();
    store2 = X509_STORE_new();
    X509_STORE_add_cert(store, ca);
    X509_STORE_add_cert(store2, ca2);
}

static void
teardown(void)
{
    X509_STORE_free(store);
    X509_STORE_free(store2);
    X509_free(ca);
    X509_free(ca2);
    krb5_free_context(ctx);
}

/* Round trip for each key type, and the algorithms actually used. */
START_TEST(test_round_trip)
{
    enum key_type kt = _i;
    X509 *cert = device_cert(kt, -DAY, DAY, KS_OID_PKINIT_KPCLIENTAUTH);
    struct ks_cms_trust t = store_trust(store, KS_OID_PKINIT_KPCLIENTAUTH);
    unsigned char *der, *content;
    const unsigned char *p;
    size_t len, clen;
    X509 *signer;
    int32_t code = -1;
    CMS_ContentInfo *cms;
    CMS_SignerInfo *si;
    X509_ALGOR *dig, *sig;
    const ASN1_OBJECT *obj;
    ASN1_OBJECT *authpack;
    static const int want_sig[] = { NID_ED25519, NID_ecdsa_with_SHA256,
                                    NID_rsassaPss };
    static const int want_dig[] = { NID_sha512, NID_sha256, NID_sha256 };

    sign_payload(kt, cert, NULL, &der, &len);
    ck_assert_int_eq(ks_cms_verify(ctx, der, len, KS_OID_DEVREG_AUTHPACK, &t,
                                   &content, &clen, &signer, &code), 0);
    ck_assert_int_eq(code, 0);
    ck_assert_uint_eq(clen, sizeof(payload));
    ck_assert_mem_eq(content, payload, clen);
    ck_assert_int_eq(X509_cmp(signer, cert), 0);
    free(content);
    X509_free(signer);

    /* Without the optional outputs. */
    ck_assert_int_eq(ks_cms_verify(ctx, der, len, KS_OID_DEVREG_AUTHPACK, &t,
                                   &content, &clen, NULL, NULL), 0);
    free(content);

    p = der;
    cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
    ck_assert_ptr_nonnull(cms);
    authpack = OBJ_txt2obj(KS_OID_DEVREG_AUTHPACK, 1);
    ck_assert_int_eq(OBJ_cmp(CMS_get0_eContentType(cms), authpack), 0);
    ASN1_OBJECT_free(authpack);
    si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
    CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
    X509_ALGOR_get0(&obj, NULL, NULL, sig);
    ck_assert_int_eq(OBJ_obj2nid(obj), want_sig[kt]);
    X509_ALGOR_get0(&obj, NULL, NULL, dig);
    ck_assert_int_eq(OBJ_obj2nid(obj), want_dig[kt]);
    ck_assert_int_ge(CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime,
                                                -1), 0);
    ck_assert_int_ge(CMS_signed_get_attr_by_NID(si,
                                                NID_pkcs9_messageDigest,
                                                -1), 0);
    CMS_ContentInfo_free(cms);
    free(der);
    X509_free(cert);
}
END_TEST

/* An empty eContent is legal and comes back empty. */
START_TEST(test_empty_content)
{
    X509 *cert = device_cert(KT_P256, -DAY, DAY, KS_OID_PKINIT_KPKDC);
    struct ks_cms_trust t = store_trust(store, KS_OID_PKINIT_KPKDC);
    unsigned char *der, *content;
    size_t len, clen = 9;

    ck_assert_int_eq(ks_cms_sign(ctx, signer_keys[KT_P256], cert, NULL,
                                 KS_OID_DEVREG_DHINFO, NULL, 0, &der, &len),
                     0);
    ck_assert_int_eq(ks_cms_verify(ctx, der, len, KS_OID_DEVREG_DHINFO, &t,
                                   &content, &clen, NULL, NULL), 0);
    ck_assert_uint_eq(clen, 0);
    free(content);
    free(der);
    X509_free(cert);
}
END_TEST

/* A flipped eContent byte and a flipped signature byte: bad signature. */
START_TEST(test_tampered)
{
    enum key_type kt = _i;
    X509 *cert = device_cert(kt, -DAY, DAY, KS_OID_PKINIT_KPCLIENTAUTH);
    struct ks_cms_trust t = store_trust(store, KS_OID_PKINIT_KPCLIENTAUTH);
    unsigned char *der, *at;
    size_t len;
    int32_t code;

    sign_payload(kt, cert, NULL, &der, &len);
    at = memmem(der, len, payload, sizeof(payload));
    ck_assert_ptr_nonnull(at);
    at[3] ^= 0x01;
    ck_assert_int_eq(verify(der, len, &t, &code), KRB5KDC_ERR_INVALID_SIG);
    ck_assert_int_eq(code, KS_DEVREG_E_BAD_SIGNATURE);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, KRB5KDC_ERR_INVALID_SIG),
                                 "signature verification failed"));
    at[3] ^= 0x01;
    ck_assert_int_eq(verify(der, len, &t, &code), 0);

    /* The signature value is the last field of the ContentInfo. */
    der[len - 1] ^= 0x01;
    ck_assert_int_eq(verify(der, len, &t, &code), KRB5KDC_ERR_INVALID_SIG);
    ck_assert_int_eq(code, KS_DEVREG_E_BAD_SIGNATURE);
    free(der);
    X509_free(cert);
}
END_TEST

/* A SignedData relabelled with another eContentType (the signed
 * content-type attribute left alone) fails as a bad signature. */
START_TEST(test_relabelled)
{
    enum key_type kt = _i;
    X509 *cert = device_cert(kt, -DAY, DAY, NULL);
    struct ks_cms_trust t = store_trust(store, NULL);
    ASN1_OBJECT *dh = OBJ_txt2obj(KS_OID_DEVREG_DHINFO, 1);
    unsigned char *der, *oid = NULL, *at;
    size_t len;
    int oidlen;
    int32_t code;

    ck_assert_int_eq(ks_cms_sign(ctx, signer_keys[kt], cert, NULL,
                                 KS_OID_DEVREG_DHINFO, payload,
                                 sizeof(payload), &der, &len), 0);
    /* The first occurrence of the OID is the eContentType; the one in
     * the signed attributes comes later.  ...1601.2 -> ...1601.1. */
    oidlen = i2d_ASN1_OBJECT(dh, &oid);
    at = memmem(der, len, oid, oidlen);
    ck_assert_ptr_nonnull(at);
    ck_assert_ptr_nonnull(memmem(at + oidlen, len - (at + oidlen - der), oid,
                                 oidlen));
    ck_assert_int_eq(at[oidlen - 1], 2);
    at[oidlen - 1] = 1;
    ck_assert_int_eq(verify(der, len, &t, &code), KRB5KDC_ERR_INVALID_SIG);
    ck_assert_int_eq(code, KS_DEVREG_E_BAD_SIGNATURE);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, KRB5KDC_ERR_INVALID_SIG),
                                 "content-type attribute"));
    OPENSSL_free(oid);
    ASN1_OBJECT_free(dh);
    free(der);
    X509_free(cert);
}
END_TEST

/* A certificate from another CA, or a CA missing from the chain. */
START_TEST(test_untrusted)
{
    X509 *cert = device_cert(KT_P256, -DAY, DAY, KS_OID_PKINIT_KPCLIENTAUTH);
    struct ks_cms_trust t = store_trust(store2, KS_OID_PKINIT_KPCLIENTAUTH);
    unsigned char *der;
    size_t len;
    int32_t code;
    krb5_error_code ret;

    sign_payload(KT_P256, cert, NULL, &der, &len);
    ret = verify(der, len, &t, &code);
    ck_assert_int_eq(ret, KRB5KDC_ERR_CANT_VERIFY_CERTIFICATE);
    ck_assert_int_eq(code, KS_DEVREG_E_UNTRUSTED_CERT);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret),
                                 "does not chain to a trust anchor"));
    t.anchors = store;
    ck_assert_int_eq(verify(der, len, &t, &code), 0);
    free(der);
    X509_free(cert);
}
END_TEST

/* A leaf under an intermediate CA verifies only with the intermediate
 * included. */
START_TEST(test_intermediate)
{
    struct cert_opts io = { "Intermediate CA", -DAY, 100 * DAY, TRUE, NULL,
                            NULL, NULL, NULL, NULL };
    struct cert_opts lo = { "device d2", -DAY, DAY, FALSE,
                            KS_OID_PKINIT_KPCLIENTAUTH,
                            "device/d2@EXAMPLE.TEST", NULL, NULL, NULL };
    X509 *inter = make_cert(&io, int_key, ca, ca_key);
    X509 *leaf = make_cert(&lo, signer_keys[KT_ED25519], inter, int_key);
    STACK_OF(X509) *chain = sk_X509_new_null();
    struct ks_cms_trust t = store_trust(store, KS_OID_PKINIT_KPCLIENTAUTH);
    unsigned char *der;
    size_t len;
    int32_t code;

    sign_payload(KT_ED25519, leaf, NULL, &der, &len);
    ck_assert_int_eq(verify(der, len, &t, &code),
                     KRB5KDC_ERR_CANT_VERIFY_CERTIFICATE);
    ck_assert_int_eq(code, KS_DEVREG_E_UNTRUSTED_CERT);
    free(der);
    sk_X509_push(chain, inter);
    sign_payload(KT_ED25519, leaf, chain, &der, &len);
    ck_assert_int_eq(verify(der, len, &t, &code), 0);
    free(der);
    sk_X509_free(chain);
    X509_free(inter);
    X509_free(leaf);
}
END_TEST

/* Expired and not-yet-valid certificates, also by verification time. */
START_TEST(test_validity)
{
    X509 *expired = device_cert(KT_P256, -2 * DAY, -DAY,
                                KS_OID_PKINIT_KPCLIENTAUTH);
    X509 *future = device_cert(KT_P256, DAY, 2 * DAY,
                               KS_OID_PKINIT_KPCLIENTAUTH);
    X509 *good = device_cert(KT_P256, -DAY, DAY, KS_OID_PKINIT_KPCLIENTAUTH);
    struct ks_cms_trust t = store_trust(store, KS_OID_PKINIT_KPCLIENTAUTH);
    unsigned char *der;
    size_t len;
    int32_t code;
    krb5_error_code ret;

    sign_payload(KT_P256, expired, NULL, &der, &len);
    ret = verify(der, len, &t, &code);
    ck_assert_int_eq(ret, KRB5KDC_ERR_INVALID_CERTIFICATE);
    ck_assert_int_eq(code, KS_DEVREG_E_CERT_EXPIRED);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "has expired"));
    free(der);

    sign_payload(KT_P256, future, NULL, &der, &len);
    ret = verify(der, len, &t, &code);
    ck_assert_int_eq(ret, KRB5KDC_ERR_INVALID_CERTIFICATE);
    ck_assert_int_eq(code, KS_DEVREG_E_CERT_NOT_YET_VALID);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "not yet valid"));
    /* ... valid at a later verification time. */
    t.verify_time = time(NULL) + DAY + DAY / 2;
    ck_assert_int_eq(verify(der, len, &t, &code), 0);
    free(der);

    sign_payload(KT_P256, good, NULL, &der, &len);
    t.verify_time = time(NULL) + 2 * DAY;
    ck_assert_int_eq(verify(der, len, &t, &code),
                     KRB5KDC_ERR_INVALID_CERTIFICATE);
    ck_assert_int_eq(code, KS_DEVREG_E_CERT_EXPIRED);
    t.verify_time = time(NULL) - 2 * DAY;
    ck_assert_int_eq(verify(der, len, &t, &code),
                     KRB5KDC_ERR_INVALID_CERTIFICATE);
    ck_assert_int_eq(code, KS_DEVREG_E_CERT_NOT_YET_VALID);
    free(der);
    X509_free(expired);
    X509_free(future);
    X509_free(good);
}
END_TEST

/* Missing and wrong EKU; eku_absent_ok; no EKU requirement. */
START_TEST(test_eku)
{
    X509 *none = device_cert(KT_P256, -DAY, DAY, NULL);
    X509 *kdc = device_cert(KT_P256, -DAY, DAY, KS_OID_PKINIT_KPKDC);
    struct ks_cms_trust t = store_trust(store, KS_OID_PKINIT_KPCLIENTAUTH);
    unsigned char *der;
    size_t len;
    int32_t code;
    krb5_error_code ret;

    sign_payload(KT_P256, none, NULL, &der, &len);
    ret = verify(der, len, &t, &code);
    ck_assert_int_eq(ret, KRB5KDC_ERR_INCONSISTENT_KEY_PURPOSE);
    ck_assert_int_eq(code, KS_DEVREG_E_WRONG_EKU);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "1.3.6.1.5.2.3.4"));
    t.eku_absent_ok = TRUE;
    ck_assert_int_eq(verify(der, len, &t, &code), 0);
    free(der);

    sign_payload(KT_P256, kdc, NULL, &der, &len);
    ck_assert_int_eq(verify(der, len, &t, &code),
                     KRB5KDC_ERR_INCONSISTENT_KEY_PURPOSE);
    ck_assert_int_eq(code, KS_DEVREG_E_WRONG_EKU);
    t.eku_oid = KS_OID_PKINIT_KPKDC;
    ck_assert_int_eq(verify(der, len, &t, &code), 0);
    t.eku_oid = NULL;
    ck_assert_int_eq(verify(der, len, &t, &code), 0);
    free(der);
    X509_free(none);
    X509_free(kdc);
}
END_TEST

/* A keyUsage extension without digitalSignature is refused like a wrong
 * EKU; with it, the certificate is accepted. */
START_TEST(test_key_usage)
{
    struct cert_opts bad = { "enc only", -DAY, DAY, FALSE,
                             KS_OID_PKINIT_KPCLIENTAUTH,
                             "device/d1@EXAMPLE.TEST", NULL, NULL,
                             "critical,keyEncipherment" };
    struct cert_opts good = bad;
    X509 *c;
    struct ks_cms_trust t = store_trust(store, KS_OID_PKINIT_KPCLIENTAUTH);
    unsigned char *der;
    size_t len;
    int32_t code;
    krb5_error_code ret;

    c = make_cert(&bad, signer_keys[KT_P256], ca, ca_key);
    sign_payload(KT_P256, c, NULL, &der, &len);
    ret = verify(der, len, &t, &code);
    ck_assert_int_eq(ret, KRB5KDC_ERR_INCONSISTENT_KEY_PURPOSE);
    ck_assert_int_eq(code, KS_DEVREG_E_WRONG_EKU);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "digitalSignature"));
    free(der);
    X509_free(c);

    good.key_usage = "critical,digitalSignature";
    c = make_cert(&good, signer_keys[KT_P256], ca, ca_key);
    sign_payload(KT_P256, c, NULL, &der, &len);
    ck_assert_int_eq(verify(der, len, &t, &code), 0);
    free(der);
    X509_free(c);
}
END_TEST

/* Pinned-key mode: self-signed expired certificate over the staged key
 * matches; another key does not. */
START_TEST(test_pinned)
{
    enum key_type kt = _i;
    struct cert_opts so = { "self", -3 * DAY, -2 * DAY, FALSE, NULL, NULL,
                            NULL, NULL, NULL };
    X509 *self = make_cert(&so, signer_keys[kt], NULL, signer_keys[kt]);
    struct ks_cms_trust t;
    unsigned char *der, *spki = NULL, *ospki = NULL;
    size_t len;
    int spkilen, ospkilen;
    int32_t code;
    krb5_error_code ret;

    spkilen = i2d_PUBKEY(signer_keys[kt], &spki);
    ospkilen = i2d_PUBKEY(other_key, &ospki);
    ck_assert_int_gt(spkilen, 0);
    ck_assert_int_gt(ospkilen, 0);
    memset(&t, 0, sizeof(t));
    t.pinned_spki = spki;
    t.pinned_spki_len = spkilen;
    sign_payload(kt, self, NULL, &der, &len);
    ck_assert_int_eq(verify(der, len, &t, &code), 0);
    ck_assert_int_eq(code, 0);

    t.pinned_spki = ospki;
    t.pinned_spki_len = ospkilen;
    ret = verify(der, len, &t, &code);
    ck_assert_int_eq(ret, KRB5KDC_ERR_CERTIFICATE_MISMATCH);
    ck_assert_int_eq(code, KS_DEVREG_E_BAD_SIGNATURE);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "pinned"));

    /* A tampered signature is still a bad signature in pinned mode. */
    t.pinned_spki = spki;
    t.pinned_spki_len = spkilen;
    der[len - 1] ^= 0x80;
    ck_assert_int_eq(verify(der, len, &t, &code), KRB5KDC_ERR_INVALID_SIG);
    ck_assert_int_eq(code, KS_DEVREG_E_BAD_SIGNATURE);

    /* A pinned value that is not an SPKI is the caller's error. */
    t.pinned_spki_len = spkilen - 1;
    der[len - 1] ^= 0x80;
    ck_assert_int_eq(verify(der, len, &t, &code), EINVAL);
    ck_assert_int_eq(code, 0);
    free(der);
    OPENSSL_free(spki);
    OPENSSL_free(ospki);
    X509_free(self);
}
END_TEST

/* Structural refusals: every one is "malformed". */
static void
check_malformed(const unsigned char *der, size_t len, const char *why)
{
    struct ks_cms_trust t = store_trust(store, NULL);
    int32_t code = 0;
    krb5_error_code ret;

    ret = verify(der, len, &t, &code);
    ck_assert_msg(ret == ASN1_PARSE_ERROR, "%s: got %d", why, (int)ret);
    ck_assert_int_eq(code, KS_DEVREG_E_MALFORMED);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), why));
}

START_TEST(test_no_signers)
{
    X509 *cert = device_cert(KT_P256, -DAY, DAY, NULL);
    unsigned char *der;
    size_t len;

    /* Certificates and eContent, no SignerInfo. */
    custom_signed(signer_keys[KT_P256], cert, EVP_sha256(),
                  KS_OID_DEVREG_AUTHPACK, 0, 0, &der, &len);
    check_malformed(der, len, "not exactly one SignerInfo");
    free(der);
    /* No SignerInfo and no eContent (what crashed MIT's PKINIT). */
    custom_signed(signer_keys[KT_P256], cert, EVP_sha256(),
                  KS_OID_DEVREG_AUTHPACK, CMS_DETACHED, 0, &der, &len);
    check_malformed(der, len, "no eContent");
    free(der);
    custom_signed(signer_keys[KT_P256], cert, EVP_sha256(),
                  KS_OID_DEVREG_AUTHPACK, CMS_DETACHED | CMS_NOCERTS, 0,
                  &der, &len);
    check_malformed(der, len, "no eContent");
    free(der);
    /* Two signers. */
    custom_signed(signer_keys[KT_P256], cert, EVP_sha256(),
                  KS_OID_DEVREG_AUTHPACK, 0, 2, &der, &len);
    check_malformed(der, len, "not exactly one SignerInfo");
    free(der);
    X509_free(cert);
}
END_TEST

START_TEST(test_detached_and_other_forms)
{
    X509 *cert = device_cert(KT_P256, -DAY, DAY, NULL);
    unsigned char *der, *longer;
    size_t len;
    CMS_ContentInfo *data;
    BIO *in;
    unsigned char *p;
    int n;

    /* A correct signature over detached content. */
    custom_signed(signer_keys[KT_P256], cert, EVP_sha256(),
                  KS_OID_DEVREG_AUTHPACK, CMS_DETACHED, 1, &der, &len);
    check_malformed(der, len, "no eContent");
    free(der);

    /* Signer certificate not included. */
    custom_signed(signer_keys[KT_P256], cert, EVP_sha256(),
                  KS_OID_DEVREG_AUTHPACK, CMS_NOCERTS, 1, &der, &len);
    check_malformed(der, len, "signer certificate not included");
    free(der);

    /* SHA-1 message digest. */
    custom_signed(signer_keys[KT_P256], cert, EVP_sha1(),
                  KS_OID_DEVREG_AUTHPACK, 0, 1, &der, &len);
    check_malformed(der, len, "weaker than SHA-256");
    free(der);

    /* Wrong eContentType, through ks_cms_sign itself. */
    ck_assert_int_eq(ks_cms_sign(ctx, signer_keys[KT_P256], cert, NULL,
                                 KS_OID_DEVREG_DHINFO, payload,
                                 sizeof(payload), &der, &len), 0);
    check_malformed(der, len, "unexpected eContentType");
    free(der);
    /* ... and id-data. */
    custom_signed(signer_keys[KT_P256], cert, EVP_sha256(), NULL, 0, 1, &der,
                  &len);
    check_malformed(der, len, "unexpected eContentType");
    free(der);

    /* No signed attributes. */
    custom_signed(signer_keys[KT_P256], cert, EVP_sha256(),
                  KS_OID_DEVREG_AUTHPACK, CMS_NOATTR, 1, &der, &len);
    check_malformed(der, len, "no signed attributes");
    free(der);

    /* Trailing bytes, truncation, garbage, empty. */
    sign_payload(KT_P256, cert, NULL, &der, &len);
    longer = malloc(len + 1);
    memcpy(longer, der, len);
    longer[len] = 0;
    check_malformed(longer, len + 1, "trailing bytes");
    check_malformed(der, len - 1, "not a DER ContentInfo");
    check_malformed(der, 10, "not a DER ContentInfo");
    check_malformed((const unsigned char *)"\x30\x00", 2,
                    "not a DER ContentInfo");
    check_malformed(der, 0, "empty or oversized");
    free(longer);
    free(der);

    /* A ContentInfo that is not SignedData. */
    in = BIO_new_mem_buf(payload, sizeof(payload));
    data = CMS_data_create(in, CMS_BINARY);
    ck_assert_ptr_nonnull(data);
    n = i2d_CMS_ContentInfo(data, NULL);
    der = p = malloc(n);
    i2d_CMS_ContentInfo(data, &p);
    check_malformed(der, n, "not SignedData");
    free(der);
    CMS_ContentInfo_free(data);
    BIO_free(in);
    X509_free(cert);
}
END_TEST

/* Bad arguments and unsupported keys. */
START_TEST(test_arguments)
{
    X509 *cert = device_cert(KT_P256, -DAY, DAY, NULL);
    struct ks_cms_trust none;
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    unsigned char *der, *content;
    size_t len, clen;

    memset(&none, 0, sizeof(none));
    ck_assert_int_eq(ks_cms_sign(ctx, p384, cert, NULL,
                                 KS_OID_DEVREG_AUTHPACK, payload, 1, &der,
                                 &len), EINVAL);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, EINVAL), "unsupported"));
    ck_assert_int_eq(ks_cms_sign(ctx, signer_keys[KT_P256], cert, NULL,
                                 "not an oid", payload, 1, &der, &len),
                     EINVAL);
    /* A key that does not match the certificate. */
    ck_assert_int_ne(ks_cms_sign(ctx, signer_keys[KT_ED25519], cert, NULL,
                                 KS_OID_DEVREG_AUTHPACK, payload, 1, &der,
                                 &len), 0);
    sign_payload(KT_P256, cert, NULL, &der, &len);
    ck_assert_int_eq(ks_cms_verify(ctx, der, len, KS_OID_DEVREG_AUTHPACK,
                                   &none, &content, &clen, NULL, NULL),
                     EINVAL);
    free(der);
    EVP_PKEY_free(p384);
    X509_free(cert);
}
END_TEST

/* id-pkinit-san and dNSName extraction. */
START_TEST(test_cert_names)
{
    struct cert_opts o1 = { "kdc", -DAY, DAY, FALSE, KS_OID_PKINIT_KPKDC,
                            "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST", NULL,
                            "kdc.example.test", NULL };
    struct cert_opts o2 = { "plain", -DAY, DAY, FALSE, NULL, NULL, NULL,
                            NULL, NULL };
    struct cert_opts o3 = { "two", -DAY, DAY, FALSE, NULL,
                            "device/a@EXAMPLE.TEST", "device/b@EXAMPLE.TEST",
                            NULL, NULL };
    struct cert_opts o4 = { "dns only", -DAY, DAY, FALSE, NULL, NULL, NULL,
                            "host.example.test", NULL };
    X509 *c1 = make_cert(&o1, signer_keys[KT_P256], ca, ca_key);
    X509 *c2 = make_cert(&o2, signer_keys[KT_P256], ca, ca_key);
    X509 *c3 = make_cert(&o3, signer_keys[KT_P256], ca, ca_key);
    X509 *c4 = make_cert(&o4, signer_keys[KT_P256], ca, ca_key);
    X509 *dev = device_cert(KT_RSA, -DAY, DAY, NULL);
    krb5_principal p, want;
    char **names;

    ck_assert_int_eq(ks_cms_cert_pkinit_principal(ctx, c1, &p), 0);
    ck_assert_int_eq(krb5_parse_name(ctx, "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST",
                                     &want), 0);
    ck_assert(krb5_principal_compare(ctx, p, want));
    krb5_free_principal(ctx, p);
    krb5_free_principal(ctx, want);

    ck_assert_int_eq(ks_cms_cert_pkinit_principal(ctx, dev, &p), 0);
    ck_assert_int_eq(krb5_parse_name(ctx, "device/d1@EXAMPLE.TEST", &want),
                     0);
    ck_assert(krb5_principal_compare(ctx, p, want));
    krb5_free_principal(ctx, want);
    ck_assert_int_eq(krb5_parse_name(ctx, "device/d2@EXAMPLE.TEST", &want),
                     0);
    ck_assert(!krb5_principal_compare(ctx, p, want));
    krb5_free_principal(ctx, want);
    krb5_free_principal(ctx, p);

    p = (void *)1;
    ck_assert_int_eq(ks_cms_cert_pkinit_principal(ctx, c2, &p), ENOENT);
    ck_assert_ptr_null(p);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ENOENT),
                                 "no id-pkinit-san"));
    ck_assert_int_eq(ks_cms_cert_pkinit_principal(ctx, c4, &p), ENOENT);
    ck_assert_int_eq(ks_cms_cert_pkinit_principal(ctx, c3, &p), EINVAL);
    ck_assert_ptr_null(p);

    ck_assert_int_eq(ks_cms_cert_dns_names(ctx, c1, &names), 0);
    ck_assert_str_eq(names[0], "kdc.example.test");
    ck_assert_ptr_null(names[1]);
    ks_cms_free_names(names);
    ck_assert_int_eq(ks_cms_cert_dns_names(ctx, c2, &names), 0);
    ck_assert_ptr_null(names[0]);
    ks_cms_free_names(names);
    ck_assert_int_eq(ks_cms_cert_dns_names(ctx, c3, &names), 0);
    ck_assert_ptr_null(names[0]);
    ks_cms_free_names(names);
    ks_cms_free_names(NULL);
    X509_free(c1);
    X509_free(c2);
    X509_free(c3);
    X509_free(c4);
    X509_free(dev);
}
END_TEST

/* PEM of a certificate or a private key, malloc'ed, NUL-terminated. */
static char *
pem_of(X509 *x, EVP_PKEY *k)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *out;
    long n;

    if (x != NULL)
        ck_assert_int_eq(PEM_write_bio_X509(bio, x), 1);
    else
        ck_assert_int_eq(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0,
                                                  NULL, NULL), 1);
    n = BIO_get_mem_data(bio, &data);
    out = strndup(data, n);
    BIO_free(bio);
    return out;
}

/* Write the concatenation of up to three strings to path with mode. */
static void
write3(const char *path, const char *a, const char *b, const char *c,
       mode_t mode)
{
    char *all;

    ck_assert_int_ge(asprintf(&all, "%s%s%s", a, b ? b : "", c ? c : ""), 0);
    unit_write_file(path, all, strlen(all), mode);
    free(all);
}

/* Identity and anchor loading from files, then sign with the loaded
 * identity and verify against the loaded anchors. */
START_TEST(test_identity_load)
{
    struct cert_opts io = { "Intermediate CA", -DAY, 100 * DAY, TRUE, NULL,
                            NULL, NULL, NULL, NULL };
    X509 *inter = make_cert(&io, int_key, ca, ca_key);
    struct cert_opts lo = { "kdc", -DAY, DAY, FALSE, KS_OID_PKINIT_KPKDC,
                            "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST", NULL, NULL,
                            NULL };
    X509 *leaf = make_cert(&lo, signer_keys[KT_RSA], inter, int_key);
    char *dir = unit_mkdtemp(NULL);
    char *certf = unit_path(dir, "kdc.pem"), *keyf = unit_path(dir, "kdc.key");
    char *bothf = unit_path(dir, "both.pem"), *caf = unit_path(dir, "ca.pem");
    char *emptyf = unit_path(dir, "empty.pem");
    char *leafpem = pem_of(leaf, NULL), *interpem = pem_of(inter, NULL);
    char *keypem = pem_of(NULL, signer_keys[KT_RSA]);
    char *okeypem = pem_of(NULL, other_key);
    char *capem = pem_of(ca, NULL), *ca2pem = pem_of(ca2, NULL);
    char *spec, *msg;
    EVP_PKEY *key;
    X509 *cert;
    STACK_OF(X509) *chain;
    X509_STORE *anchors;
    struct ks_cms_trust t;
    unsigned char *der;
    size_t len;
    int32_t code;
    krb5_error_code ret;

    write3(certf, leafpem, interpem, NULL, 0644);
    write3(keyf, keypem, NULL, NULL, 0600);
    write3(bothf, keypem, leafpem, interpem, 0600);
    write3(caf, ca2pem, capem, NULL, 0644);
    write3(emptyf, "", NULL, NULL, 0644);

    ck_assert_int_ge(asprintf(&spec, "FILE:%s,%s", certf, keyf), 0);
    ck_assert_int_eq(ks_identity_load(ctx, spec, &key, &cert, &chain), 0);
    ck_assert_int_eq(X509_cmp(cert, leaf), 0);
    ck_assert_int_eq(sk_X509_num(chain), 1);
    ck_assert_int_eq(X509_cmp(sk_X509_value(chain, 0), inter), 0);
    ck_assert_int_eq(EVP_PKEY_eq(key, signer_keys[KT_RSA]), 1);

    ck_assert_int_eq(ks_anchors_load(ctx, "FILE:/nonexistent/ca.pem",
                                     &anchors), ENOENT);
    ck_assert_int_eq(ks_anchors_load(ctx, "ca.pem", &anchors), EINVAL);
    free(spec);
    ck_assert_int_ge(asprintf(&spec, "FILE:%s", caf), 0);
    ck_assert_int_eq(ks_anchors_load(ctx, spec, &anchors), 0);
    free(spec);
    t = store_trust(anchors, KS_OID_PKINIT_KPKDC);
    ck_assert_int_eq(ks_cms_sign(ctx, key, cert, chain, KS_OID_DEVREG_AUTHPACK,
                                 payload, sizeof(payload), &der, &len), 0);
    ck_assert_int_eq(verify(der, len, &t, &code), 0);
    free(der);
    X509_STORE_free(anchors);
    EVP_PKEY_free(key);
    X509_free(cert);
    sk_X509_pop_free(chain, X509_free);

    /* Combined file. */
    ck_assert_int_ge(asprintf(&spec, "FILE:%s", bothf), 0);
    ck_assert_int_eq(ks_identity_load(ctx, spec, &key, &cert, &chain), 0);
    ck_assert_int_eq(X509_cmp(cert, leaf), 0);
    ck_assert_int_eq(sk_X509_num(chain), 1);
    EVP_PKEY_free(key);
    X509_free(cert);
    sk_X509_pop_free(chain, X509_free);

    /* The combined file readable by group: refused like a key file. */
    ck_assert_int_eq(chmod(bothf, 0640), 0);
    ck_assert_int_eq(ks_identity_load(ctx, spec, &key, &cert, &chain),
                     EACCES);
    free(spec);

    /* Key file readable by others: refused, message names file and fix. */
    ck_assert_int_eq(chmod(keyf, 0604), 0);
    ck_assert_int_ge(asprintf(&spec, "FILE:%s,%s", certf, keyf), 0);
    key = (void *)1;
    ret = ks_identity_load(ctx, spec, &key, &cert, &chain);
    ck_assert_int_eq(ret, EACCES);
    ck_assert_ptr_null(key);
    msg = strdup(unit_errmsg(ctx, ret));
    ck_assert_ptr_nonnull(strstr(msg, keyf));
    ck_assert_ptr_nonnull(strstr(msg, "chmod 600"));
    ck_assert_ptr_nonnull(strstr(msg, "604"));
    free(msg);
    ck_assert_int_eq(chmod(keyf, 0400), 0);
    ck_assert_int_eq(ks_identity_load(ctx, spec, &key, &cert, &chain), 0);
    EVP_PKEY_free(key);
    X509_free(cert);
    sk_X509_pop_free(chain, X509_free);
    free(spec);

    /* A key that does not match the certificate. */
    write3(keyf, okeypem, NULL, NULL, 0600);
    ck_assert_int_ge(asprintf(&spec, "FILE:%s,%s", certf, keyf), 0);
    ret = ks_identity_load(ctx, spec, &key, &cert, &chain);
    ck_assert_int_eq(ret, EINVAL);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "does not match"));
    free(spec);

    /* No key, no certificate, missing file, bad specs. */
    ck_assert_int_ge(asprintf(&spec, "FILE:%s,%s", certf, certf), 0);
    ck_assert_int_eq(chmod(certf, 0600), 0);
    ret = ks_identity_load(ctx, spec, &key, &cert, &chain);
    ck_assert_int_eq(ret, EINVAL);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "no usable private "
                                 "key"));
    free(spec);
    ck_assert_int_ge(asprintf(&spec, "FILE:%s,%s", emptyf, keyf), 0);
    ck_assert_int_eq(ks_identity_load(ctx, spec, &key, &cert, &chain),
                     EINVAL);
    free(spec);
    ck_assert_int_ge(asprintf(&spec, "FILE:%s/missing.pem,%s", dir, keyf),
                     0);
    ck_assert_int_eq(ks_identity_load(ctx, spec, &key, &cert, &chain),
                     ENOENT);
    free(spec);
    ck_assert_int_eq(ks_identity_load(ctx, "PKCS11:x", &key, &cert, &chain),
                     EINVAL);
    ck_assert_int_eq(ks_identity_load(ctx, "FILE:", &key, &cert, &chain),
                     EINVAL);
    ck_assert_int_eq(ks_identity_load(ctx, "FILE:a,", &key, &cert, &chain),
                     EINVAL);
    ck_assert_ptr_null(key);
    ck_assert_ptr_null(cert);
    ck_assert_ptr_null(chain);

    ck_assert_int_ge(asprintf(&spec, "FILE:%s", emptyf), 0);
    anchors = (void *)1;
    ck_assert_int_eq(ks_anchors_load(ctx, spec, &anchors), EINVAL);
    ck_assert_ptr_null(anchors);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, EINVAL), "no PEM "
                                 "certificate"));
    free(spec);

    unit_rmtree(dir);
    free(dir);
    free(certf);
    free(keyf);
    free(bothf);
    free(caf);
    free(emptyf);
    free(leafpem);
    free(interpem);
    free(keypem);
    free(okeypem);
    free(capem);
    free(ca2pem);
    X509_free(inter);
    X509_free(leaf);
}
END_TEST

/* ---- EnvelopedData: ks_cms_seal() and ks_cms_open() --------------------- */

/* Stand-in for the DER TempkeyKeys that tempkey seals. */
static const unsigned char sealed_secret[] =
    "TempkeyKeys stand-in: 0123456789abcdef0123456789abcdef";

/* The sealing recipients of the loop tests: P-256 then RSA-2048. */
static EVP_PKEY *
seal_key(int i)
{
    return signer_keys[i == 0 ? KT_P256 : KT_RSA];
}

/* A KDC certificate (the devreg_identity profile) for key. */
static X509 *
kdc_cert(EVP_PKEY *key)
{
    struct cert_opts o = { "KDC", -DAY, DAY, FALSE, KS_OID_PKINIT_KPKDC,
                           "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST", NULL, NULL,
                           NULL };

    return make_cert(&o, key, ca, ca_key);
}

/* Seal the secret to cert under KS_OID_TEMPKEY_KEYS. */
static void
seal_secret(X509 *cert, unsigned char **der, size_t *len)
{
    krb5_error_code ret;

    ret = ks_cms_seal(ctx, cert, KS_OID_TEMPKEY_KEYS, sealed_secret,
                      sizeof(sealed_secret), der, len);
    ck_assert_msg(ret == 0, "ks_cms_seal: %s", unit_errmsg(ctx, ret));
}

/* Open der with key and cert, expecting the KS_OID_TEMPKEY_KEYS content;
 * return the code (the outputs are checked either way). */
static krb5_error_code
open_sealed(EVP_PKEY *key, X509 *cert, const unsigned char *der, size_t len)
{
    unsigned char *data = (void *)1;
    size_t n = 1;
    krb5_error_code ret;

    ret = ks_cms_open(ctx, key, cert, KS_OID_TEMPKEY_KEYS, der, len, &data,
                      &n);
    if (ret == 0) {
        ck_assert_uint_eq(n, sizeof(sealed_secret));
        ck_assert_mem_eq(data, sealed_secret, n);
        ks_zfree(data, n);
    } else {
        ck_assert_ptr_null(data);
        ck_assert_uint_eq(n, 0);
    }
    return ret;
}

/* The DER of cms into malloc'ed *der, *len. */
static void
cms_to_der(CMS_ContentInfo *cms, unsigned char **der, size_t *len)
{
    unsigned char *p;
    int n = i2d_CMS_ContentInfo(cms, NULL);

    ck_assert_int_gt(n, 0);
    *der = p = malloc(n);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(i2d_CMS_ContentInfo(cms, &p), n);
    *len = n;
}

/* The NID of the AlgorithmIdentifier held as the SEQUENCE parameter of
 * alg (the key wrap of ECC-CMS, the hash of MGF1). */
static int
inner_alg_nid(const X509_ALGOR *alg)
{
    const ASN1_OBJECT *obj;
    const void *pval;
    const ASN1_STRING *seq;
    const unsigned char *p;
    X509_ALGOR *inner;
    int ptype, nid;

    X509_ALGOR_get0(&obj, &ptype, &pval, alg);
    ck_assert_int_eq(ptype, V_ASN1_SEQUENCE);
    seq = pval;
    p = seq->data;
    inner = d2i_X509_ALGOR(NULL, &p, seq->length);
    ck_assert_ptr_nonnull(inner);
    X509_ALGOR_get0(&obj, NULL, NULL, inner);
    nid = OBJ_obj2nid(obj);
    X509_ALGOR_free(inner);
    return nid;
}

/* Round trip to a P-256 and an RSA-2048 recipient, and the algorithms on
 * the wire: AES-256-CBC content, ECDH with the SHA-256 X9.63 KDF and
 * AES-256 wrap, or RSAES-OAEP with SHA-256 and MGF1-SHA-256. */
START_TEST(test_seal_round_trip)
{
    EVP_PKEY *key = seal_key(_i);
    X509 *cert = kdc_cert(key);
    unsigned char *der = NULL, *data = NULL;
    const unsigned char *p;
    size_t len = 0, n = 1;
    CMS_ContentInfo *cms;
    CMS_RecipientInfo *ri;
    X509_ALGOR *alg = NULL;
    ASN1_OCTET_STRING *ukm;
    ASN1_OBJECT *want = OBJ_txt2obj(KS_OID_TEMPKEY_KEYS, 1);
    BIO *bio = BIO_new(BIO_s_mem());
    char *text;
    long tlen;

    seal_secret(cert, &der, &len);
    ck_assert_int_eq(open_sealed(key, cert, der, len), 0);

    p = der;
    cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
    ck_assert_ptr_nonnull(cms);
    ck_assert_int_eq(OBJ_obj2nid(CMS_get0_type(cms)), NID_pkcs7_enveloped);
    ck_assert_int_eq(OBJ_cmp(CMS_get0_eContentType(cms), want), 0);
    ck_assert_int_eq(sk_CMS_RecipientInfo_num(CMS_get0_RecipientInfos(cms)),
                     1);
    ri = sk_CMS_RecipientInfo_value(CMS_get0_RecipientInfos(cms), 0);
    if (_i == 0) {
        ck_assert_int_eq(CMS_RecipientInfo_type(ri), CMS_RECIPINFO_AGREE);
        ck_assert_int_eq(CMS_RecipientInfo_kari_get0_alg(ri, &alg, &ukm), 1);
        ck_assert_int_eq(OBJ_obj2nid(alg->algorithm),
                         NID_dhSinglePass_stdDH_sha256kdf_scheme);
        ck_assert_int_eq(inner_alg_nid(alg), NID_id_aes256_wrap);
    } else {
        RSA_OAEP_PARAMS *oaep;
        const ASN1_STRING *seq;
        const ASN1_OBJECT *obj;
        const void *pval;
        int ptype;

        ck_assert_int_eq(CMS_RecipientInfo_type(ri), CMS_RECIPINFO_TRANS);
        ck_assert_int_eq(CMS_RecipientInfo_ktri_get0_algs(ri, NULL, NULL,
                                                          &alg), 1);
        X509_ALGOR_get0(&obj, &ptype, &pval, alg);
        ck_assert_int_eq(OBJ_obj2nid(obj), NID_rsaesOaep);
        ck_assert_int_eq(ptype, V_ASN1_SEQUENCE);
        seq = pval;
        p = seq->data;
        oaep = d2i_RSA_OAEP_PARAMS(NULL, &p, seq->length);
        ck_assert_ptr_nonnull(oaep);
        ck_assert_ptr_nonnull(oaep->hashFunc);
        X509_ALGOR_get0(&obj, NULL, NULL, oaep->hashFunc);
        ck_assert_int_eq(OBJ_obj2nid(obj), NID_sha256);
        ck_assert_ptr_nonnull(oaep->maskGenFunc);
        X509_ALGOR_get0(&obj, NULL, NULL, oaep->maskGenFunc);
        ck_assert_int_eq(OBJ_obj2nid(obj), NID_mgf1);
        ck_assert_int_eq(inner_alg_nid(oaep->maskGenFunc), NID_sha256);
        RSA_OAEP_PARAMS_free(oaep);
    }
    /* No public getter for the content encryption algorithm: read
     * OpenSSL's own dump of the structure. */
    ck_assert_int_eq(CMS_ContentInfo_print_ctx(bio, cms, 0, NULL), 1);
    tlen = BIO_get_mem_data(bio, &text);
    ck_assert_int_gt(tlen, 0);
    ck_assert_ptr_nonnull(memmem(text, (size_t)tlen, "aes-256-cbc", 11));
    CMS_ContentInfo_free(cms);
    free(der);

    /* Empty content seals and opens too. */
    ck_assert_int_eq(ks_cms_seal(ctx, cert, KS_OID_TEMPKEY_KEYS, NULL, 0,
                                 &der, &len), 0);
    ck_assert_int_eq(ks_cms_open(ctx, key, cert, KS_OID_TEMPKEY_KEYS, der,
                                 len, &data, &n), 0);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(n, 0);
    free(data);
    free(der);
    BIO_free(bio);
    ASN1_OBJECT_free(want);
    X509_free(cert);
}
END_TEST

/* Keys sealed to another certificate, and to a certificate naming this
 * one's issuer and serial over another key (found, but the unwrap
 * fails), are both KRB5KDC_ERR_CERTIFICATE_MISMATCH. */
START_TEST(test_seal_wrong_recipient)
{
    EVP_PKEY *key = seal_key(_i);
    EVP_PKEY *other = (_i == 0) ? other_key : other_rsa_key;
    X509 *cert = kdc_cert(key), *other_cert = kdc_cert(other), *impostor;
    unsigned char *der = NULL;
    size_t len = 0;
    krb5_error_code ret;
    int i;

    seal_secret(cert, &der, &len);
    ret = open_sealed(other, other_cert, der, len);
    ck_assert_int_eq(ret, KRB5KDC_ERR_CERTIFICATE_MISMATCH);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "not sealed to "
                                 "this KDC's certificate"));
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "no RecipientInfo"));

    impostor = X509_dup(cert);
    ck_assert_int_eq(X509_set_pubkey(impostor, other), 1);
    ck_assert_int_ne(X509_sign(impostor, ca_key, EVP_sha256()), 0);
    ret = open_sealed(other, impostor, der, len);
    ck_assert_int_eq(ret, KRB5KDC_ERR_CERTIFICATE_MISMATCH);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "not sealed to "
                                 "this KDC's certificate"));
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "failed"));

    /*
     * Without CMS_DEBUG_DECRYPT OpenSSL would hide the failed RSA unwrap
     * and decrypt with a random content key, whose output unpads about
     * once in 256 tries: repeat, so that such garbage cannot go unseen.
     */
    for (i = 0; _i == 1 && i < 1000; i++) {
        ck_assert_int_eq(open_sealed(other, impostor, der, len),
                         KRB5KDC_ERR_CERTIFICATE_MISMATCH);
    }

    /* The other key type finds no RecipientInfo of its kind. */
    X509_free(other_cert);
    other = seal_key(1 - _i);
    other_cert = kdc_cert(other);
    ck_assert_int_eq(open_sealed(other, other_cert, der, len),
                     KRB5KDC_ERR_CERTIFICATE_MISMATCH);

    /* And the right recipient still opens it. */
    ck_assert_int_eq(open_sealed(key, cert, der, len), 0);
    free(der);
    X509_free(impostor);
    X509_free(other_cert);
    X509_free(cert);
}
END_TEST

/* Malformed input: another content type, trailing or missing bytes, a
 * SignedData, RSA key transport with PKCS #1 v1.5. */
START_TEST(test_seal_malformed)
{
    X509 *cert = kdc_cert(signer_keys[KT_RSA]);
    EVP_PKEY *key = signer_keys[KT_RSA];
    unsigned char *der = NULL, *buf, *data = (void *)1;
    size_t len = 0, n = 1, i;
    krb5_error_code ret;
    CMS_ContentInfo *cms;
    ASN1_OBJECT *obj;
    BIO *in;

    seal_secret(cert, &der, &len);
    ret = ks_cms_open(ctx, key, cert, KS_OID_TEMPKEY_REQUEST, der, len,
                      &data, &n);
    ck_assert_int_eq(ret, ASN1_PARSE_ERROR);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "content type"));
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(n, 0);

    buf = malloc(len + 1);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, der, len);
    buf[len] = 0;
    ret = open_sealed(key, cert, buf, len + 1);
    ck_assert_int_eq(ret, ASN1_PARSE_ERROR);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "trailing"));
    for (i = 0; i < len; i += 7)
        ck_assert_int_eq(open_sealed(key, cert, buf, i), ASN1_PARSE_ERROR);
    free(buf);
    /* Over KS_ASN1_MAX_INPUT: the ContentInfo followed by zeros. */
    buf = calloc(1, KS_ASN1_MAX_INPUT + 1);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, der, len);
    ret = open_sealed(key, cert, buf, KS_ASN1_MAX_INPUT + 1);
    ck_assert_int_eq(ret, ASN1_PARSE_ERROR);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "oversized"));
    free(buf);
    free(der);

    X509_free(cert);
    cert = device_cert(KT_RSA, -DAY, DAY, NULL);
    sign_payload(KT_RSA, cert, NULL, &der, &len);
    ret = open_sealed(key, cert, der, len);
    ck_assert_int_eq(ret, ASN1_PARSE_ERROR);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "not EnvelopedData"));
    free(der);

    /* OpenSSL's default RSA key transport is PKCS #1 v1.5: refused before
     * any decryption, so the KDC is no padding oracle. */
    cms = CMS_EnvelopedData_create(EVP_aes_256_cbc());
    obj = OBJ_txt2obj(KS_OID_TEMPKEY_KEYS, 1);
    in = BIO_new_mem_buf(sealed_secret, sizeof(sealed_secret));
    ck_assert_int_eq(CMS_set1_eContentType(cms, obj), 1);
    ck_assert_int_eq(CMS_set_detached(cms, 0), 1);
    ck_assert_ptr_nonnull(CMS_add1_recipient_cert(cms, cert, 0));
    ck_assert_int_eq(CMS_final(cms, in, NULL, CMS_BINARY), 1);
    cms_to_der(cms, &der, &len);
    ret = open_sealed(key, cert, der, len);
    ck_assert_int_eq(ret, ASN1_PARSE_ERROR);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "RSAES-OAEP"));
    free(der);
    BIO_free(in);
    ASN1_OBJECT_free(obj);
    CMS_ContentInfo_free(cms);
    X509_free(cert);
}
END_TEST

/* Recipients other than P-256 and RSA >= 2048 bits, and bad arguments,
 * are EINVAL. */
START_TEST(test_seal_refused_keys)
{
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    X509 *ed = kdc_cert(signer_keys[KT_ED25519]);
    X509 *small = kdc_cert(small_rsa_key), *big = kdc_cert(p384);
    X509 *cert = kdc_cert(signer_keys[KT_P256]);
    unsigned char *der = (void *)1, *data = (void *)1;
    size_t len = 1, n = 1;
    krb5_error_code ret;

    ret = ks_cms_seal(ctx, ed, KS_OID_TEMPKEY_KEYS, sealed_secret,
                      sizeof(sealed_secret), &der, &len);
    ck_assert_int_eq(ret, EINVAL);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "ED25519"));
    ck_assert_ptr_null(der);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(ks_cms_seal(ctx, small, KS_OID_TEMPKEY_KEYS,
                                 sealed_secret, sizeof(sealed_secret), &der,
                                 &len), EINVAL);
    ck_assert_int_eq(ks_cms_seal(ctx, big, KS_OID_TEMPKEY_KEYS,
                                 sealed_secret, sizeof(sealed_secret), &der,
                                 &len), EINVAL);
    ck_assert_int_eq(ks_cms_seal(ctx, NULL, KS_OID_TEMPKEY_KEYS,
                                 sealed_secret, sizeof(sealed_secret), &der,
                                 &len), EINVAL);
    ck_assert_int_eq(ks_cms_seal(ctx, cert, "not an oid", sealed_secret,
                                 sizeof(sealed_secret), &der, &len), EINVAL);
    ck_assert_int_eq(ks_cms_seal(ctx, cert, KS_OID_TEMPKEY_KEYS, NULL, 5,
                                 &der, &len), EINVAL);
    ck_assert_ptr_null(der);

    /* Opening: the same key types, and a key that is not the cert's. */
    seal_secret(cert, &der, &len);
    ck_assert_int_eq(ks_cms_open(ctx, signer_keys[KT_ED25519], ed,
                                 KS_OID_TEMPKEY_KEYS, der, len, &data, &n),
                     EINVAL);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(open_sealed(small_rsa_key, small, der, len), EINVAL);
    ck_assert_int_eq(open_sealed(other_key, cert, der, len), EINVAL);
    ck_assert_int_eq(open_sealed(NULL, cert, der, len), EINVAL);
    ck_assert_int_eq(open_sealed(signer_keys[KT_P256], NULL, der, len),
                     EINVAL);
    ck_assert_int_eq(open_sealed(signer_keys[KT_P256], cert, der, len), 0);
    free(der);
    X509_free(cert);
    X509_free(big);
    X509_free(small);
    X509_free(ed);
    EVP_PKEY_free(p384);
}
END_TEST

static Suite *
cms_suite(void)
{
    Suite *s = suite_create("cms");
    TCase *tc = tcase_create("cms");

    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_round_trip, 0, KT_COUNT);
    tcase_add_test(tc, test_empty_content);
    tcase_add_loop_test(tc, test_tampered, 0, KT_COUNT);
    tcase_add_loop_test(tc, test_relabelled, 0, KT_COUNT);
    tcase_add_test(tc, test_untrusted);
    tcase_add_test(tc, test_intermediate);
    tcase_add_test(tc, test_validity);
    tcase_add_test(tc, test_eku);
    tcase_add_test(tc, test_key_usage);
    tcase_add_loop_test(tc, test_pinned, 0, KT_COUNT);
    tcase_add_test(tc, test_no_signers);
    tcase_add_test(tc, test_detached_and_other_forms);
    tcase_add_test(tc, test_arguments);
    tcase_add_test(tc, test_cert_names);
    tcase_add_test(tc, test_identity_load);
    tcase_add_loop_test(tc, test_seal_round_trip, 0, 2);
    tcase_add_loop_test(tc, test_seal_wrong_recipient, 0, 2);
    tcase_add_test(tc, test_seal_malformed);
    tcase_add_test(tc, test_seal_refused_keys);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    int status;
    enum key_type kt;

    signer_keys[KT_ED25519] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    signer_keys[KT_P256] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    signer_keys[KT_RSA] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
                                            (size_t)2048);
    other_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ca2_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    int_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    other_rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    small_rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    if (signer_keys[KT_ED25519] == NULL || signer_keys[KT_P256] == NULL ||
        signer_keys[KT_RSA] == NULL || other_key == NULL || ca_key == NULL ||
        ca2_key == NULL || int_key == NULL || other_rsa_key == NULL ||
        small_rsa_key == NULL) {
        fprintf(stderr, "check_cms: key generation failed\n");
        return 1;
    }
    status = unit_run(cms_suite());
    for (kt = 0; kt < KT_COUNT; kt++)
        EVP_PKEY_free(signer_keys[kt]);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(ca2_key);
    EVP_PKEY_free(int_key);
    EVP_PKEY_free(other_rsa_key);
    EVP_PKEY_free(small_rsa_key);
    return status;
}
