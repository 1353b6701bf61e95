/*
 * Unit tests of the derived-key cache (lib/ks_keycache.h): it returns
 * exactly what ks_derive_principal_key() returns, counts hits and misses,
 * and stays correct when slots are evicted (a 1-slot cache evicts on every
 * change of name, enctype or kvno).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <krb5/krb5.h>

#include "ks_keycache.h"
#include "ks_kdf.h"
#include "unit_util.h"

static krb5_context ctx;
static struct ks_secret secret;
static unsigned char secret_bytes[64];

/* A context and a 64-byte secret unlike the KDF vectors' one. */
static void
setup(void)
{
    size_t i;

    ck_assert_int_eq(krb5_init_context(&ctx), 0);
    for (i = 0; i < sizeof(secret_bytes); i++)
        secret_bytes[i] = (unsigned char)(0xc0 ^ i);
    secret.bytes = secret_bytes;
    secret.len = sizeof(secret_bytes);
}

/* Free the context. */
static void
teardown(void)
{
    krb5_free_context(ctx);
}

/* Derive through cache and directly; assert both are the same key. */
static void
check_same(struct ks_keycache *cache, const char *name, krb5_enctype enctype,
           krb5_kvno kvno)
{
    krb5_keyblock direct, cached;

    ck_assert_int_eq(ks_derive_principal_key(ctx, secret.bytes, secret.len,
                                             name, enctype, kvno, &direct),
                     0);
    ck_assert_int_eq(ks_keycache_derive(ctx, cache, &secret, name, enctype,
                                        kvno, &cached), 0);
    ck_assert_int_eq(cached.enctype, enctype);
    ck_assert_uint_eq(cached.length, direct.length);
    ck_assert_mem_eq(cached.contents, direct.contents, direct.length);
    ck_assert_ptr_ne(cached.contents, direct.contents);
    krb5_free_keyblock_contents(ctx, &direct);
    krb5_free_keyblock_contents(ctx, &cached);
}

/* Assert the cache's counters. */
static void
check_stats(struct ks_keycache *cache, unsigned long hits,
            unsigned long misses)
{
    unsigned long h = 99, m = 99;

    ks_keycache_stats(cache, &h, &m);
    ck_assert_uint_eq(h, hits);
    ck_assert_uint_eq(m, misses);
}

START_TEST(test_hit_returns_same_key)
{
    struct ks_keycache *cache = NULL;
    const char *name = "host/a.example.test@EXAMPLE.TEST";

    ck_assert_int_eq(ks_keycache_new(64, &cache), 0);
    check_stats(cache, 0, 0);
    check_same(cache, name, 18, 7);
    check_stats(cache, 0, 1);
    check_same(cache, name, 18, 7);
    check_stats(cache, 1, 1);
    check_same(cache, name, 18, 7);
    check_stats(cache, 2, 1);
    check_same(cache, name, 17, 7);
    check_same(cache, name, 20, 7);
    check_same(cache, name, 19, 8);
    check_stats(cache, 2, 4);
    check_same(cache, name, 17, 7);
    check_same(cache, name, 20, 7);
    check_same(cache, name, 19, 8);
    /* Whether these collide in 64 slots depends on the hash; every lookup
     * is counted once either way. */
    {
        unsigned long h, m;

        ks_keycache_stats(cache, &h, &m);
        ck_assert_uint_eq(h + m, 9);
        ck_assert_uint_ge(h, 2);
    }
    ks_keycache_free(cache);
}
END_TEST

START_TEST(test_one_slot_eviction)
{
    struct ks_keycache *cache = NULL;
    const char *a = "host/a@EXAMPLE.TEST", *b = "host/b@EXAMPLE.TEST";

    ck_assert_int_eq(ks_keycache_new(1, &cache), 0);
    check_same(cache, a, 18, 1);
    check_same(cache, b, 18, 1);        /* evicts a */
    check_same(cache, a, 18, 1);        /* evicts b */
    check_stats(cache, 0, 3);
    check_same(cache, a, 18, 1);
    check_stats(cache, 1, 3);
    /* Same name, other kvno, other enctype: misses, never a wrong hit. */
    check_same(cache, a, 18, 2);
    check_same(cache, a, 18, 1);
    check_same(cache, a, 17, 1);
    check_same(cache, a, 18, 1);
    check_stats(cache, 1, 7);
    /* A name that is a prefix of the cached one is not a hit. */
    check_same(cache, "host/a@EXAMPLE.TES", 18, 1);
    check_same(cache, a, 18, 1);
    check_stats(cache, 1, 9);
    ks_keycache_free(cache);
}
END_TEST

START_TEST(test_many_names_bounded)
{
    struct ks_keycache *cache = NULL;
    char name[64];
    unsigned long hits, misses;
    int i;

    ck_assert_int_eq(ks_keycache_new(8, &cache), 0);
    for (i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "host/h%d@EXAMPLE.TEST", i % 50);
        check_same(cache, name, 17, (krb5_kvno)(1 + i % 3));
    }
    ks_keycache_stats(cache, &hits, &misses);
    ck_assert_uint_eq(hits + misses, 200);
    ks_keycache_free(cache);
}
END_TEST

START_TEST(test_long_name_bypasses_cache)
{
    struct ks_keycache *cache = NULL;
    char name[400];

    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    ck_assert_int_eq(ks_keycache_new(4, &cache), 0);
    check_same(cache, name, 18, 1);
    check_same(cache, name, 18, 1);
    check_stats(cache, 0, 0);
    /* 255 bytes is still cached. */
    name[255] = '\0';
    check_same(cache, name, 18, 1);
    check_same(cache, name, 18, 1);
    check_stats(cache, 1, 1);
    ks_keycache_free(cache);
}
END_TEST

START_TEST(test_null_cache)
{
    check_same(NULL, "host/a@EXAMPLE.TEST", 18, 1);
    check_stats(NULL, 0, 0);
    ks_keycache_free(NULL);
}
END_TEST

START_TEST(test_default_size)
{
    struct ks_keycache *cache = NULL;

    ck_assert_int_eq(ks_keycache_new(0, &cache), 0);
    ck_assert_ptr_nonnull(cache);
    check_same(cache, "host/a@EXAMPLE.TEST", 20, 3);
    check_same(cache, "host/a@EXAMPLE.TEST", 20, 3);
    check_stats(cache, 1, 1);
    ks_keycache_free(cache);
}
END_TEST

START_TEST(test_errors_not_cached)
{
    struct ks_keycache *cache = NULL;
    krb5_keyblock kb;

    ck_assert_int_eq(ks_keycache_new(1, &cache), 0);
    ck_assert_int_ne(ks_keycache_derive(ctx, cache, &secret, "a@B", 9999, 1,
                                        &kb), 0);
    ck_assert_ptr_null(kb.contents);
    ck_assert_int_ne(ks_keycache_derive(ctx, cache, &secret, "a@B", 9999, 1,
                                        &kb), 0);
    ck_assert_ptr_null(kb.contents);
    check_same(cache, "a@B", 18, 1);
    ks_keycache_free(cache);
}
END_TEST

/* Every keycache test, grouped by concern. */
static Suite *
keycache_suite(void)
{
    Suite *s = suite_create("keycache");
    TCase *tc;

    tc = tcase_create("keycache");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_hit_returns_same_key);
    tcase_add_test(tc, test_one_slot_eviction);
    tcase_add_test(tc, test_many_names_bounded);
    tcase_add_test(tc, test_long_name_bypasses_cache);
    tcase_add_test(tc, test_null_cache);
    tcase_add_test(tc, test_default_size);
    tcase_add_test(tc, test_errors_not_cached);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return unit_run(keycache_suite());
}
