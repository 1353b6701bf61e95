/*
 * Fuzz target: ks_cms_verify() (lib/ks_cms.h) on untrusted bytes, the
 * CMS SignedData a device sends as DevregRegister.auth-pack.
 *
 * The first input byte picks the trust mode (even: pinned key, odd: trust
 * store with the PKINIT client EKU); the rest is the DER.  The signer is a
 * fixed, test-only certificate embedded here, so that the seed corpus
 * (tests/fuzz/corpus/fuzz_cms_verify, made with `openssl cms -sign` by
 * that certificate) verifies and mutations explore the paths past the
 * parser.  Besides memory errors the target aborts when a successful
 * verification returns no content or no signer, or a refusal leaves a
 * content behind.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <krb5/krb5.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ks_cms.h"
#include "ks_iana.h"

/* Test-only self-signed P-256 certificate (EKU id-pkinit-KPClientAuth);
 * its key signed the seed inputs.  Not a secret of anything. */
static const char signer_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBczCCARmgAwIBAgIBATAKBggqhkjOPQQDAjAWMRQwEgYDVQQDDAtmdXp6LWRl\n"
    "dmljZTAgFw0yNjExMjUxMDMwNTZaGA8yMTI2MTEwMTEwMzA1NlowFjEUMBIGA1UE\n"
    "AwwLZnV6ei1kZXZpY2UwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQHFNzsA1E/\n"
    "cSBTvkqocJqqutg9XyIt4AdogaQlxcAOJEOd/byVgkS00jUQMcJpYuscJNkCZNRo\n"
    "2dDKGNFaKLedo1YwVDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIChDAS\n"
    "BgNVHSUECzAJBgcrBgEFAgMEMB0GA1UdDgQWBBQvqpwHJyAQKI8/kqcqa+ENVLXG\n"
    "qjAKBggqhkjOPQQDAgNIADBFAiAno4ryZcNZ4cFUboJVh+j6ZG6V320ldVCa6+Kl\n"
    "CrKeFgIhAJs0/uAte58fZKmgWHJjP5aSOFPrhTys00TbDPs6Dt8a\n"
    "-----END CERTIFICATE-----\n";

static krb5_context ctx;
static X509_STORE *store;
static unsigned char *spki;
static int spki_len;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    BIO *bio;
    X509 *cert;

    setenv("KRB5_CONFIG", "/dev/null", 1);
    if (krb5_init_context(&ctx) != 0)
        abort();
    bio = BIO_new_mem_buf(signer_pem, -1);
    cert = (bio != NULL) ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    store = X509_STORE_new();
    if (cert == NULL || store == NULL || !X509_STORE_add_cert(store, cert))
        abort();
    spki_len = i2d_PUBKEY(X509_get0_pubkey(cert), &spki);
    if (spki_len <= 0)
        abort();
    X509_free(cert);
    BIO_free(bio);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ks_cms_trust trust;
    unsigned char *content = NULL;
    size_t content_len = 0;
    X509 *signer = NULL;
    krb5_principal princ = NULL;
    int32_t code = 0;
    krb5_error_code ret;

    if (size < 1)
        return 0;
    memset(&trust, 0, sizeof(trust));
    if (data[0] & 1) {
        trust.anchors = store;
        trust.eku_oid = KS_OID_PKINIT_KPCLIENTAUTH;
    } else {
        trust.pinned_spki = spki;
        trust.pinned_spki_len = spki_len;
    }
    ret = ks_cms_verify(ctx, data + 1, size - 1, KS_OID_DEVREG_AUTHPACK,
                        &trust, &content, &content_len, &signer, &code);
    if (ret == 0) {
        if (content == NULL || signer == NULL || code != 0)
            abort();
        if (ks_cms_cert_pkinit_principal(ctx, signer, &princ) == 0)
            krb5_free_principal(ctx, princ);
    } else if (content != NULL || signer != NULL) {
        abort();
    }
    free(content);
    X509_free(signer);
    krb5_clear_error_message(ctx);
    return 0;
}
