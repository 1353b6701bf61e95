/*
 * Unit tests of the devreg key agreement (lib/ks_ecdh.h).
 *
 * Known answers: RFC 7748 section 6.1 (X25519, Alice and Bob) and RFC 5903
 * section 8.1 (256-bit random ECP group: initiator i, responder r, shared
 * x-coordinate girx); the RFC 5903 values were also recomputed with a
 * separate affine-arithmetic P-256 implementation in Python.  Then round
 * trips with fresh keys, the wire sizes, and refusals of invalid peer
 * values (wrong size, compressed and hybrid P-256 forms, points off the
 * curve, X25519 low-order points).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <krb5/krb5.h>

#include "ks_ecdh.h"
#include "ks_iana.h"
#include "unit_util.h"

static krb5_context ctx;

static void
setup(void)
{
    ck_assert_int_eq(krb5_init_context(&ctx), 0);
}

static void
teardown(void)
{
    krb5_free_context(ctx);
}

/* RFC 7748 section 6.1. */
static const char x_a_priv[] =
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
static const char x_a_pub[] =
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
static const char x_b_priv[] =
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
static const char x_b_pub[] =
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
static const char x_shared[] =
    "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

/* RFC 5903 section 8.1. */
static const char p_i[] =
    "c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433";
static const char p_gi[] = "04"
    "dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180"
    "5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3";
static const char p_r[] =
    "c6ef9c5d78ae012a011164acb397ce2088685d8f06bf9be0b283ab46476bee53";
static const char p_gr[] = "04"
    "d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63"
    "56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab";
static const char p_girx[] =
    "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de";

/* Check one known-answer exchange: both sides' public values and Z. */
static void
check_kat(int32_t group, const char *a_priv, const char *a_pub,
          const char *b_priv, const char *b_pub, const char *shared)
{
    struct ks_ecdh_key *a, *b;
    unsigned char buf[32], apub[65], bpub[65], want[32], z[32];
    unsigned char *pub;
    size_t len, apublen, bpublen;

    apublen = unit_unhex(a_pub, apub);
    bpublen = unit_unhex(b_pub, bpub);
    unit_unhex(shared, want);
    ck_assert_int_eq(ks_ecdh_import_private(ctx, group, buf,
                                            unit_unhex(a_priv, buf), &a), 0);
    ck_assert_int_eq(ks_ecdh_import_private(ctx, group, buf,
                                            unit_unhex(b_priv, buf), &b), 0);
    ck_assert_int_eq(ks_ecdh_group(a), group);

    ck_assert_int_eq(ks_ecdh_public(ctx, a, &pub, &len), 0);
    ck_assert_uint_eq(len, apublen);
    ck_assert_mem_eq(pub, apub, len);
    free(pub);
    ck_assert_int_eq(ks_ecdh_public(ctx, b, &pub, &len), 0);
    ck_assert_uint_eq(len, bpublen);
    ck_assert_mem_eq(pub, bpub, len);
    free(pub);

    memset(z, 0, sizeof(z));
    ck_assert_int_eq(ks_ecdh_derive(ctx, a, bpub, bpublen, z), 0);
    ck_assert_mem_eq(z, want, 32);
    memset(z, 0, sizeof(z));
    ck_assert_int_eq(ks_ecdh_derive(ctx, b, apub, apublen, z), 0);
    ck_assert_mem_eq(z, want, 32);
    ks_ecdh_free(a);
    ks_ecdh_free(b);
}

START_TEST(test_rfc7748_x25519)
{
    check_kat(KS_DEVREG_GROUP_X25519, x_a_priv, x_a_pub, x_b_priv, x_b_pub,
              x_shared);
}
END_TEST

START_TEST(test_rfc5903_p256)
{
    check_kat(KS_DEVREG_GROUP_P256, p_i, p_gi, p_r, p_gr, p_girx);
}
END_TEST

static const int32_t groups[] = { KS_DEVREG_GROUP_X25519,
                                  KS_DEVREG_GROUP_P256 };

/* Fresh key pairs agree, and different pairs give different secrets. */
START_TEST(test_round_trip)
{
    int32_t group = groups[_i];
    struct ks_ecdh_key *a, *b, *c;
    unsigned char *apub, *bpub, *cpub, z1[32], z2[32], z3[32];
    size_t alen, blen, clen;

    ck_assert_int_eq(ks_ecdh_generate(ctx, group, &a), 0);
    ck_assert_int_eq(ks_ecdh_generate(ctx, group, &b), 0);
    ck_assert_int_eq(ks_ecdh_generate(ctx, group, &c), 0);
    ck_assert_int_eq(ks_ecdh_public(ctx, a, &apub, &alen), 0);
    ck_assert_int_eq(ks_ecdh_public(ctx, b, &bpub, &blen), 0);
    ck_assert_int_eq(ks_ecdh_public(ctx, c, &cpub, &clen), 0);
    ck_assert_uint_eq(alen, ks_ecdh_public_len(group));
    ck_assert_uint_eq(blen, ks_ecdh_public_len(group));
    if (group == KS_DEVREG_GROUP_P256)
        ck_assert_int_eq(apub[0], 4);
    ck_assert_int_eq(ks_ecdh_check_public(ctx, group, apub, alen), 0);

    ck_assert_int_eq(ks_ecdh_derive(ctx, a, bpub, blen, z1), 0);
    ck_assert_int_eq(ks_ecdh_derive(ctx, b, apub, alen, z2), 0);
    ck_assert_mem_eq(z1, z2, 32);
    ck_assert_int_eq(ks_ecdh_derive(ctx, a, cpub, clen, z3), 0);
    ck_assert_int_ne(memcmp(z1, z3, 32), 0);
    free(apub);
    free(bpub);
    free(cpub);
    ks_ecdh_free(a);
    ks_ecdh_free(b);
    ks_ecdh_free(c);
}
END_TEST

START_TEST(test_sizes_and_unknown_group)
{
    struct ks_ecdh_key *k = (void *)1;
    unsigned char buf[32] = { 1 };

    ck_assert_uint_eq(ks_ecdh_public_len(KS_DEVREG_GROUP_X25519), 32);
    ck_assert_uint_eq(ks_ecdh_public_len(KS_DEVREG_GROUP_P256), 65);
    ck_assert_uint_eq(ks_ecdh_public_len(0), 0);
    ck_assert_uint_eq(ks_ecdh_public_len(3), 0);
    ck_assert_int_eq(ks_ecdh_generate(ctx, 3, &k), EINVAL);
    ck_assert_ptr_null(k);
    ck_assert_int_eq(ks_ecdh_import_private(ctx, 0, buf, 32, &k), EINVAL);
    ck_assert_int_eq(ks_ecdh_import_private(ctx, KS_DEVREG_GROUP_P256, buf,
                                            31, &k), EINVAL);
    ck_assert_int_eq(ks_ecdh_check_public(ctx, 7, buf, 32), EINVAL);
    /* P-256 scalar 0 and >= n are refused. */
    memset(buf, 0, 32);
    ck_assert_int_eq(ks_ecdh_import_private(ctx, KS_DEVREG_GROUP_P256, buf,
                                            32, &k), EINVAL);
    memset(buf, 0xff, 32);
    ck_assert_int_eq(ks_ecdh_import_private(ctx, KS_DEVREG_GROUP_P256, buf,
                                            32, &k), EINVAL);
    ks_ecdh_free(NULL);
}
END_TEST

/* Every malformed P-256 peer value is refused by check and derive. */
START_TEST(test_p256_invalid_points)
{
    struct ks_ecdh_key *k;
    unsigned char good[65], bad[66], z[32];
    size_t n = unit_unhex(p_gr, good);

    ck_assert_int_eq(ks_ecdh_generate(ctx, KS_DEVREG_GROUP_P256, &k), 0);
    ck_assert_int_eq(ks_ecdh_check_public(ctx, KS_DEVREG_GROUP_P256, good,
                                          n), 0);

    /* Wrong sizes: compressed (33), infinity (1), too long (66). */
    ck_assert_int_eq(ks_ecdh_derive(ctx, k, good, 33, z), EINVAL);
    bad[0] = 0;
    ck_assert_int_eq(ks_ecdh_derive(ctx, k, bad, 1, z), EINVAL);
    memcpy(bad, good, 65);
    bad[65] = 0;
    ck_assert_int_eq(ks_ecdh_derive(ctx, k, bad, 66, z), EINVAL);
    ck_assert_int_eq(ks_ecdh_derive(ctx, k, good, 0, z), EINVAL);

    /* Hybrid forms (0x06/0x07) and compressed prefixes at 65 bytes. */
    memcpy(bad, good, 65);
    bad[0] = (good[64] & 1) ? 7 : 6;
    ck_assert_int_eq(ks_ecdh_check_public(ctx, KS_DEVREG_GROUP_P256, bad,
                                          65), EINVAL);
    bad[0] = 2;
    ck_assert_int_eq(ks_ecdh_derive(ctx, k, bad, 65, z), EINVAL);

    /* Off the curve: flip a bit of Y. */
    memcpy(bad, good, 65);
    bad[64] ^= 1;
    ck_assert_int_eq(ks_ecdh_check_public(ctx, KS_DEVREG_GROUP_P256, bad,
                                          65), EINVAL);
    ck_assert_int_eq(ks_ecdh_derive(ctx, k, bad, 65, z), EINVAL);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, EINVAL), "not a valid "
                                 "point"));

    /* All-zero coordinates ("infinity" in a 65-byte disguise). */
    memset(bad, 0, 65);
    bad[0] = 4;
    ck_assert_int_eq(ks_ecdh_derive(ctx, k, bad, 65, z), EINVAL);

    /* Coordinates >= p. */
    memset(bad, 0xff, 65);
    bad[0] = 4;
    ck_assert_int_eq(ks_ecdh_derive(ctx, k, bad, 65, z), EINVAL);
    ks_ecdh_free(k);
}
END_TEST

/* X25519 low-order points give an all-zero secret and are refused. */
START_TEST(test_x25519_low_order)
{
    struct ks_ecdh_key *k;
    unsigned char pt[32], z[32];
    /* u = 0, u = 1, and the order-8 point of the curve25519 list. */
    static const char order8[] =
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800";

    ck_assert_int_eq(ks_ecdh_generate(ctx, KS_DEVREG_GROUP_X25519, &k), 0);
    memset(pt, 0, 32);
    ck_assert_int_eq(ks_ecdh_derive(ctx, k, pt, 32, z), EINVAL);
    pt[0] = 1;
    ck_assert_int_eq(ks_ecdh_derive(ctx, k, pt, 32, z), EINVAL);
    unit_unhex(order8, pt);
    ck_assert_int_eq(ks_ecdh_derive(ctx, k, pt, 32, z), EINVAL);
    /* Wrong sizes. */
    ck_assert_int_eq(ks_ecdh_derive(ctx, k, pt, 31, z), EINVAL);
    ck_assert_int_eq(ks_ecdh_derive(ctx, k, pt, 0, z), EINVAL);
    ks_ecdh_free(k);
}
END_TEST

/* A key of one group refuses a public value sized for the other. */
START_TEST(test_group_mismatch)
{
    struct ks_ecdh_key *x, *p;
    unsigned char *xpub, *ppub, z[32];
    size_t xlen, plen;

    ck_assert_int_eq(ks_ecdh_generate(ctx, KS_DEVREG_GROUP_X25519, &x), 0);
    ck_assert_int_eq(ks_ecdh_generate(ctx, KS_DEVREG_GROUP_P256, &p), 0);
    ck_assert_int_eq(ks_ecdh_public(ctx, x, &xpub, &xlen), 0);
    ck_assert_int_eq(ks_ecdh_public(ctx, p, &ppub, &plen), 0);
    ck_assert_int_eq(ks_ecdh_derive(ctx, x, ppub, plen, z), EINVAL);
    ck_assert_int_eq(ks_ecdh_derive(ctx, p, xpub, xlen, z), EINVAL);
    free(xpub);
    free(ppub);
    ks_ecdh_free(x);
    ks_ecdh_free(p);
}
END_TEST

static Suite *
ecdh_suite(void)
{
    Suite *s = suite_create("ecdh");
    TCase *tc = tcase_create("ecdh");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_rfc7748_x25519);
    tcase_add_test(tc, test_rfc5903_p256);
    tcase_add_loop_test(tc, test_round_trip, 0, 2);
    tcase_add_test(tc, test_sizes_and_unknown_group);
    tcase_add_test(tc, test_p256_invalid_points);
    tcase_add_test(tc, test_x25519_low_order);
    tcase_add_test(tc, test_group_mismatch);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return unit_run(ecdh_suite());
}
