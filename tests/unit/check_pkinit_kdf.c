/*
 * Unit tests of the RFC 8636 PKINIT KDF (lib/ks_pkinit_kdf.h) and of the
 * OtherInfo it hashes (ks_pkinit_other_info_der in lib/ks_asn1.h).
 *
 * Test vectors: the three of RFC 8636 (common inputs: Z = 256 zero bytes,
 * client lha@SU.SE, server krbtgt/SU.SE@SU.SE, as-REQ = 10 bytes 0xAA,
 * pk-as-rep = 9 bytes 0xBB; SHA-1 and SHA-256 with aes256-cts-hmac-sha1-96,
 * SHA-512 with des3-cbc-sha1-kd), as transcribed by two independent
 * implementations: OpenSSL's test/recipes/30-test_evp_data/evpkdf_ss.txt
 * ("SSKDF Test vectors from RFC 8636 Section 8", which gives the whole DER
 * OtherInfo and the raw KDF output) and MIT krb5's
 * src/plugins/preauth/pkinit/pkinit_kdf_test.c (which gives the keys after
 * random-to-key).  The two agree with each other and with a separate
 * computation (Python hashlib over the DER OtherInfo, and RFC 3961 DES3
 * random-to-key).  Both name types in the vectors are NT-PRINCIPAL (1);
 * krb5_parse_name() gives krbtgt/SU.SE@SU.SE the type NT-SRV-INST (2), so
 * the test sets the server's type back to 1, as Heimdal's
 * lib/krb5/test_pknistkdf.c does for the same reason
 * (test_name_type_matters shows the difference).
 *
 * Then domain separation: changing any one input changes the key, and the
 * multi-block output is checked against a direct computation of
 * H(counter || Z || OtherInfo) with EVP_Digest.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <krb5/krb5.h>
#include <openssl/evp.h>

#include "ks_asn1.h"
#include "ks_iana.h"
#include "ks_pkinit_kdf.h"
#include "ks_util.h"
#include "unit_util.h"

static krb5_context ctx;
static krb5_principal client, server;
static unsigned char z[256];
static char as_req_bytes[10], pk_as_rep_bytes[9];
static krb5_data as_req, pk_as_rep;

/* RFC 8636 section 8 OtherInfo for SHA-1 / aes256-cts-hmac-sha1-96; the
 * SHA-256 one differs in the last OID byte, the SHA-512 one also in the
 * enctype (16, des3-cbc-sha1-kd). */
static const char other_info_sha1_hex[] =
    "307e300a06082b06010502030601a01f041d301ba0071b0553552e5345a110300ea0"
    "03020101a10730051b036c6861a12904273025a0071b0553552e5345a11a3018a003"
    "020101a111300f1b066b72627467741b0553552e5345a22404223020a003020112a1"
    "0c040aaaaaaaaaaaaaaaaaaaaaa20b0409bbbbbbbbbbbbbbbbbb";
static const char other_info_sha256_hex[] =
    "307e300a06082b06010502030602a01f041d301ba0071b0553552e5345a110300ea0"
    "03020101a10730051b036c6861a12904273025a0071b0553552e5345a11a3018a003"
    "020101a111300f1b066b72627467741b0553552e5345a22404223020a003020112a1"
    "0c040aaaaaaaaaaaaaaaaaaaaaa20b0409bbbbbbbbbbbbbbbbbb";
static const char other_info_sha512_hex[] =
    "307e300a06082b06010502030603a01f041d301ba0071b0553552e5345a110300ea0"
    "03020101a10730051b036c6861a12904273025a0071b0553552e5345a11a3018a003"
    "020101a111300f1b066b72627467741b0553552e5345a22404223020a003020110a1"
    "0c040aaaaaaaaaaaaaaaaaaaaaa20b0409bbbbbbbbbbbbbbbbbb";

struct rfc_vector {
    const char *name;
    enum ks_pkinit_kdf_hash hash;
    const char *oid;
    krb5_enctype enctype;
    const char *other_info_hex;
    const char *raw_hex;        /* KDF output, keybytes long */
    const char *key_hex;        /* after random-to-key */
};

static const struct rfc_vector rfc_vectors[] = {
    { "SHA-1/aes256", KS_PKINIT_KDF_SHA1, KS_OID_PKINIT_KDF_SHA1,
      ENCTYPE_AES256_CTS_HMAC_SHA1_96, other_info_sha1_hex,
      "e6ab38c9413e035bb079201ed0b6b73d8d49a814a737c04ee6649614206f73ad",
      "e6ab38c9413e035bb079201ed0b6b73d8d49a814a737c04ee6649614206f73ad" },
    { "SHA-256/aes256", KS_PKINIT_KDF_SHA256, KS_OID_PKINIT_KDF_SHA256,
      ENCTYPE_AES256_CTS_HMAC_SHA1_96, other_info_sha256_hex,
      "77ef4e48c420ae3fec75109d7981697eed5d295c90c62564f7bfd101fa9bc1d5",
      "77ef4e48c420ae3fec75109d7981697eed5d295c90c62564f7bfd101fa9bc1d5" },
    /* des3: 21 random bytes become a 24-byte key with parity bits. */
    { "SHA-512/des3", KS_PKINIT_KDF_SHA512, KS_OID_PKINIT_KDF_SHA512,
      ENCTYPE_DES3_CBC_SHA1, other_info_sha512_hex,
      "d3c78b78d75313e9a926f75dfb012363fa17fa01db",
      "d3c78a79d65213efe9a826f75dfb01f72362fb16fb01dad6" },
};
#define NRFC (sizeof(rfc_vectors) / sizeof(*rfc_vectors))

/* Assert that the len bytes at got are the bytes of hex. */
static void
assert_hex(const unsigned char *got, size_t len, const char *hex,
           const char *what)
{
    size_t n;
    unsigned char *want = unit_unhex_alloc(hex, &n);
    char *gothex = malloc(2 * len + 1);

    ck_assert_ptr_nonnull(gothex);
    ks_hex(got, len, gothex);
    ck_assert_msg(n == len && memcmp(got, want, n) == 0,
                  "%s: got %s, want %s", what, gothex, hex);
    free(gothex);
    free(want);
}

static void
setup(void)
{
    ck_assert_int_eq(krb5_init_context(&ctx), 0);
    ck_assert_int_eq(krb5_parse_name(ctx, "lha@SU.SE", &client), 0);
    ck_assert_int_eq(krb5_parse_name(ctx, "krbtgt/SU.SE@SU.SE", &server), 0);
    ck_assert_int_eq(client->type, KRB5_NT_PRINCIPAL);
    ck_assert_int_eq(server->type, KRB5_NT_SRV_INST);
    server->type = KRB5_NT_PRINCIPAL;   /* as in the RFC's vectors */
    memset(z, 0, sizeof(z));
    memset(as_req_bytes, 0xaa, sizeof(as_req_bytes));
    memset(pk_as_rep_bytes, 0xbb, sizeof(pk_as_rep_bytes));
    as_req.data = as_req_bytes;
    as_req.length = sizeof(as_req_bytes);
    pk_as_rep.data = pk_as_rep_bytes;
    pk_as_rep.length = sizeof(pk_as_rep_bytes);
}

static void
teardown(void)
{
    krb5_free_principal(ctx, client);
    krb5_free_principal(ctx, server);
    krb5_free_context(ctx);
}

START_TEST(test_rfc8636_other_info)
{
    const struct rfc_vector *v = &rfc_vectors[_i];
    unsigned char *der = NULL;
    size_t len = 0;

    ck_assert_int_eq(ks_pkinit_other_info_der(ctx, v->oid, client, server,
                                              v->enctype, &as_req,
                                              &pk_as_rep, &der, &len), 0);
    assert_hex(der, len, v->other_info_hex, v->name);
    free(der);
}
END_TEST

START_TEST(test_rfc8636_raw)
{
    const struct rfc_vector *v = &rfc_vectors[_i];
    unsigned char out[64];
    size_t keybytes, keylength;

    ck_assert_int_eq(krb5_c_keylengths(ctx, v->enctype, &keybytes,
                                       &keylength), 0);
    ck_assert_uint_eq(keybytes * 2, strlen(v->raw_hex));
    ck_assert_int_eq(ks_pkinit_kdf_bytes(ctx, v->hash, z, sizeof(z), client,
                                         server, v->enctype, &as_req,
                                         &pk_as_rep, out, keybytes), 0);
    assert_hex(out, keybytes, v->raw_hex, v->name);
}
END_TEST

START_TEST(test_rfc8636_key)
{
    const struct rfc_vector *v = &rfc_vectors[_i];
    krb5_keyblock key;

    memset(&key, 0, sizeof(key));
    ck_assert_int_eq(ks_pkinit_kdf(ctx, v->hash, z, sizeof(z), client,
                                   server, v->enctype, &as_req, &pk_as_rep,
                                   &key), 0);
    ck_assert_int_eq(key.enctype, v->enctype);
    assert_hex(key.contents, key.length, v->key_hex, v->name);
    krb5_free_keyblock_contents(ctx, &key);
}
END_TEST

/* The RFC vectors need NT-PRINCIPAL names: with krb5_parse_name()'s
 * NT-SRV-INST for the krbtgt server the key is different. */
START_TEST(test_name_type_matters)
{
    krb5_keyblock key;
    unsigned char *der = NULL;
    size_t len = 0;

    server->type = KRB5_NT_SRV_INST;
    ck_assert_int_eq(ks_pkinit_other_info_der(ctx, KS_OID_PKINIT_KDF_SHA1,
                                              client, server,
                                              ENCTYPE_AES256_CTS_HMAC_SHA1_96,
                                              &as_req, &pk_as_rep, &der,
                                              &len), 0);
    /* name-type 2 where the RFC has 1, in partyVInfo. */
    ck_assert_ptr_nonnull(memmem(der, len, "\xa0\x03\x02\x01\x02", 5));
    free(der);
    ck_assert_int_eq(ks_pkinit_kdf(ctx, KS_PKINIT_KDF_SHA1, z, sizeof(z),
                                   client, server,
                                   ENCTYPE_AES256_CTS_HMAC_SHA1_96, &as_req,
                                   &pk_as_rep, &key), 0);
    ck_assert(memcmp(key.contents,
                     "\xe6\xab\x38\xc9\x41\x3e\x03\x5b", 8) != 0);
    krb5_free_keyblock_contents(ctx, &key);
}
END_TEST

/* The key for the common inputs with one of them replaced. */
static void
derive(enum ks_pkinit_kdf_hash hash, const unsigned char *zz, size_t zlen,
       krb5_const_principal c, krb5_const_principal s, krb5_enctype et,
       const krb5_data *areq, const krb5_data *arep, krb5_keyblock *key)
{
    memset(key, 0, sizeof(*key));
    ck_assert_int_eq(ks_pkinit_kdf(ctx, hash, zz, zlen, c, s, et, areq,
                                   arep, key), 0);
}

/* Nonzero if two keys of the same length differ. */
static int
keys_differ(const krb5_keyblock *a, const krb5_keyblock *b)
{
    return a->length != b->length ||
        memcmp(a->contents, b->contents, a->length) != 0;
}

START_TEST(test_domain_separation)
{
    const krb5_enctype et = ENCTYPE_AES256_CTS_HMAC_SHA1_96;
    krb5_keyblock base, again, k;
    krb5_principal other;
    unsigned char z2[256];
    char areq2[10], arep2[9];
    krb5_data areq_alt = { KV5M_DATA, sizeof(areq2), areq2 };
    krb5_data arep_alt = { KV5M_DATA, sizeof(arep2), arep2 };
    krb5_data areq_short = { KV5M_DATA, 9, as_req_bytes };

    derive(KS_PKINIT_KDF_SHA256, z, sizeof(z), client, server, et, &as_req,
           &pk_as_rep, &base);
    derive(KS_PKINIT_KDF_SHA256, z, sizeof(z), client, server, et, &as_req,
           &pk_as_rep, &again);
    ck_assert(!keys_differ(&base, &again));
    krb5_free_keyblock_contents(ctx, &again);

    /* Hash. */
    derive(KS_PKINIT_KDF_SHA512, z, sizeof(z), client, server, et, &as_req,
           &pk_as_rep, &k);
    ck_assert(keys_differ(&base, &k));
    krb5_free_keyblock_contents(ctx, &k);

    /* Z: one bit, and one byte shorter. */
    memcpy(z2, z, sizeof(z2));
    z2[255] ^= 1;
    derive(KS_PKINIT_KDF_SHA256, z2, sizeof(z2), client, server, et, &as_req,
           &pk_as_rep, &k);
    ck_assert(keys_differ(&base, &k));
    krb5_free_keyblock_contents(ctx, &k);
    derive(KS_PKINIT_KDF_SHA256, z, sizeof(z) - 1, client, server, et,
           &as_req, &pk_as_rep, &k);
    ck_assert(keys_differ(&base, &k));
    krb5_free_keyblock_contents(ctx, &k);

    /* Client, server, and swapping them. */
    ck_assert_int_eq(krb5_parse_name(ctx, "lhb@SU.SE", &other), 0);
    derive(KS_PKINIT_KDF_SHA256, z, sizeof(z), other, server, et, &as_req,
           &pk_as_rep, &k);
    ck_assert(keys_differ(&base, &k));
    krb5_free_keyblock_contents(ctx, &k);
    derive(KS_PKINIT_KDF_SHA256, z, sizeof(z), client, other, et, &as_req,
           &pk_as_rep, &k);
    ck_assert(keys_differ(&base, &k));
    krb5_free_keyblock_contents(ctx, &k);
    derive(KS_PKINIT_KDF_SHA256, z, sizeof(z), server, client, et, &as_req,
           &pk_as_rep, &k);
    ck_assert(keys_differ(&base, &k));
    krb5_free_keyblock_contents(ctx, &k);
    krb5_free_principal(ctx, other);

    /* Realm only. */
    ck_assert_int_eq(krb5_parse_name(ctx, "lha@SU.SF", &other), 0);
    derive(KS_PKINIT_KDF_SHA256, z, sizeof(z), other, server, et, &as_req,
           &pk_as_rep, &k);
    ck_assert(keys_differ(&base, &k));
    krb5_free_keyblock_contents(ctx, &k);
    krb5_free_principal(ctx, other);

    /* Enctype of the same key size. */
    derive(KS_PKINIT_KDF_SHA256, z, sizeof(z), client, server,
           ENCTYPE_AES256_CTS_HMAC_SHA384_192, &as_req, &pk_as_rep, &k);
    ck_assert_int_eq(k.enctype, ENCTYPE_AES256_CTS_HMAC_SHA384_192);
    ck_assert(keys_differ(&base, &k));
    krb5_free_keyblock_contents(ctx, &k);

    /* as-REQ and pk-as-rep: content, and length. */
    memcpy(areq2, as_req_bytes, sizeof(areq2));
    areq2[0] ^= 0x80;
    derive(KS_PKINIT_KDF_SHA256, z, sizeof(z), client, server, et, &areq_alt,
           &pk_as_rep, &k);
    ck_assert(keys_differ(&base, &k));
    krb5_free_keyblock_contents(ctx, &k);
    derive(KS_PKINIT_KDF_SHA256, z, sizeof(z), client, server, et,
           &areq_short, &pk_as_rep, &k);
    ck_assert(keys_differ(&base, &k));
    krb5_free_keyblock_contents(ctx, &k);
    memcpy(arep2, pk_as_rep_bytes, sizeof(arep2));
    arep2[8] ^= 1;
    derive(KS_PKINIT_KDF_SHA256, z, sizeof(z), client, server, et, &as_req,
           &arep_alt, &k);
    ck_assert(keys_differ(&base, &k));
    krb5_free_keyblock_contents(ctx, &k);
    /* The two messages swapped (both 0xAA.. / 0xBB.. of other lengths). */
    derive(KS_PKINIT_KDF_SHA256, z, sizeof(z), client, server, et,
           &pk_as_rep, &as_req, &k);
    ck_assert(keys_differ(&base, &k));
    krb5_free_keyblock_contents(ctx, &k);

    krb5_free_keyblock_contents(ctx, &base);
}
END_TEST

/* H(counter || Z || OtherInfo) for counter 1.., computed directly. */
static void
direct_kdf(const EVP_MD *md, const unsigned char *info, size_t infolen,
           unsigned char *out, size_t outlen)
{
    unsigned char block[EVP_MAX_MD_SIZE], ctr[4];
    unsigned int mdlen;
    uint32_t counter = 1;
    size_t done = 0, n;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();

    ck_assert_ptr_nonnull(mctx);
    while (done < outlen) {
        ctr[0] = counter >> 24;
        ctr[1] = counter >> 16;
        ctr[2] = counter >> 8;
        ctr[3] = counter;
        ck_assert(EVP_DigestInit_ex(mctx, md, NULL) == 1);
        ck_assert(EVP_DigestUpdate(mctx, ctr, 4) == 1);
        ck_assert(EVP_DigestUpdate(mctx, z, sizeof(z)) == 1);
        ck_assert(EVP_DigestUpdate(mctx, info, infolen) == 1);
        ck_assert(EVP_DigestFinal_ex(mctx, block, &mdlen) == 1);
        n = outlen - done < mdlen ? outlen - done : mdlen;
        memcpy(out + done, block, n);
        done += n;
        counter++;
    }
    EVP_MD_CTX_free(mctx);
}

/* Outputs of several hash blocks agree with the definition. */
START_TEST(test_multiblock_matches_definition)
{
    static const struct {
        enum ks_pkinit_kdf_hash hash;
        const char *oid, *md;
    } cases[] = {
        { KS_PKINIT_KDF_SHA1, KS_OID_PKINIT_KDF_SHA1, "SHA1" },
        { KS_PKINIT_KDF_SHA256, KS_OID_PKINIT_KDF_SHA256, "SHA256" },
        { KS_PKINIT_KDF_SHA512, KS_OID_PKINIT_KDF_SHA512, "SHA512" },
    };
    const krb5_enctype et = ENCTYPE_AES128_CTS_HMAC_SHA1_96;
    unsigned char got[200], want[200], *info = NULL;
    size_t infolen = 0, i;
    EVP_MD *md;

    for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        ck_assert_int_eq(ks_pkinit_other_info_der(ctx, cases[i].oid, client,
                                                  server, et, &as_req,
                                                  &pk_as_rep, &info,
                                                  &infolen), 0);
        md = EVP_MD_fetch(NULL, cases[i].md, NULL);
        ck_assert_ptr_nonnull(md);
        direct_kdf(md, info, infolen, want, sizeof(want));
        ck_assert_int_eq(ks_pkinit_kdf_bytes(ctx, cases[i].hash, z,
                                             sizeof(z), client, server, et,
                                             &as_req, &pk_as_rep, got,
                                             sizeof(got)), 0);
        ck_assert_mem_eq(got, want, sizeof(got));
        EVP_MD_free(md);
        free(info);
        info = NULL;
    }
}
END_TEST

/* Every enctype the realm may use gets a key of its own length. */
START_TEST(test_key_lengths)
{
    static const krb5_enctype ets[] = {
        ENCTYPE_AES128_CTS_HMAC_SHA1_96, ENCTYPE_AES256_CTS_HMAC_SHA1_96,
        ENCTYPE_AES128_CTS_HMAC_SHA256_128,
        ENCTYPE_AES256_CTS_HMAC_SHA384_192,
    };
    static const size_t lens[] = { 16, 32, 16, 32 };
    krb5_keyblock key;
    size_t i;

    for (i = 0; i < sizeof(ets) / sizeof(*ets); i++) {
        derive(KS_PKINIT_KDF_SHA256, z, sizeof(z), client, server, ets[i],
               &as_req, &pk_as_rep, &key);
        ck_assert_int_eq(key.enctype, ets[i]);
        ck_assert_uint_eq(key.length, lens[i]);
        krb5_free_keyblock_contents(ctx, &key);
    }
}
END_TEST

START_TEST(test_errors)
{
    krb5_keyblock key;
    krb5_data empty = { KV5M_DATA, 0, NULL };

    memset(&key, 0, sizeof(key));
    ck_assert_int_eq(ks_pkinit_kdf(ctx, KS_PKINIT_KDF_SHA256, z, 0, client,
                                   server, ENCTYPE_AES256_CTS_HMAC_SHA1_96,
                                   &as_req, &pk_as_rep, &key), EINVAL);
    ck_assert_int_eq(ks_pkinit_kdf(ctx, (enum ks_pkinit_kdf_hash)0, z,
                                   sizeof(z), client, server,
                                   ENCTYPE_AES256_CTS_HMAC_SHA1_96, &as_req,
                                   &pk_as_rep, &key), EINVAL);
    ck_assert_int_eq(ks_pkinit_kdf(ctx, KS_PKINIT_KDF_SHA256, z, sizeof(z),
                                   client, server, 9999, &as_req,
                                   &pk_as_rep, &key), KRB5_BAD_ENCTYPE);
    ck_assert_ptr_null(key.contents);
    /* Empty messages are encodable (an empty OCTET STRING). */
    ck_assert_int_eq(ks_pkinit_kdf(ctx, KS_PKINIT_KDF_SHA256, z, sizeof(z),
                                   client, server,
                                   ENCTYPE_AES256_CTS_HMAC_SHA1_96, &empty,
                                   &empty, &key), 0);
    krb5_free_keyblock_contents(ctx, &key);
}
END_TEST

static Suite *
pkinit_kdf_suite(void)
{
    Suite *s = suite_create("pkinit_kdf");
    TCase *tc = tcase_create("rfc8636");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_rfc8636_other_info, 0, NRFC);
    tcase_add_loop_test(tc, test_rfc8636_raw, 0, NRFC);
    tcase_add_loop_test(tc, test_rfc8636_key, 0, NRFC);
    tcase_add_test(tc, test_name_type_matters);
    tcase_add_test(tc, test_domain_separation);
    tcase_add_test(tc, test_multiblock_matches_definition);
    tcase_add_test(tc, test_key_lengths);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return unit_run(pkinit_kdf_suite());
}
