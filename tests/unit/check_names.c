/*
 * Unit tests of principal classification (lib/ks_names.h): device id
 * rules at their boundaries, the fixed realm principals, devices, K/M,
 * reserved first components, and service globs (fnmatch with FNM_PATHNAME,
 * first matching rule wins, attributes carried with it).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <krb5/krb5.h>

#include "ks_config.h"
#include "ks_names.h"
#include "unit_util.h"

#define REALM "EXAMPLE.TEST"

static krb5_context ctx;
static struct ks_config cfg;

/* Rules in order: an exact name after a glob that covers it, a rule with
 * two attributes, a three-component glob, and two catch-alls (x-anything
 * and anything, each over two components) that must not capture reserved
 * names. */
static const char *const rules[] = {
    "host/* require_auth=devreg-provisioned",
    "host/special.example.test never=reached",
    "HTTP/*.example.test a=1 b=2",
    "ldap/*/" REALM,
    "x*/*",
    "*/*",
};
#define NRULES (sizeof(rules) / sizeof(*rules))

/* A context and the rules above, in a device namespace "device". */
static void
setup(void)
{
    const char *why = NULL;
    size_t i;

    ck_assert_int_eq(krb5_init_context(&ctx), 0);
    memset(&cfg, 0, sizeof(cfg));
    cfg.device_namespace = strdup("device");
    cfg.services = calloc(NRULES, sizeof(*cfg.services));
    ck_assert_ptr_nonnull(cfg.services);
    for (i = 0; i < NRULES; i++) {
        ck_assert_msg(ks_parse_service_rule(rules[i], &cfg.services[i],
                                            &why) == 0, "%s: %s", rules[i],
                      why);
    }
    cfg.nservices = NRULES;
}

/* Free the rules and the context. */
static void
teardown(void)
{
    size_t i;

    for (i = 0; i < cfg.nservices; i++)
        ks_service_rule_free(&cfg.services[i]);
    free(cfg.services);
    free(cfg.device_namespace);
    memset(&cfg, 0, sizeof(cfg));
    krb5_free_context(ctx);
}

/* Classify the parsed name s; set *rule to the matching rule's index (or
 * -1). */
static enum ks_kind
classify(const char *s, int *rule)
{
    krb5_principal p;
    const struct ks_service_rule *r = (const void *)1;
    enum ks_kind kind;

    ck_assert_int_eq(krb5_parse_name(ctx, s, &p), 0);
    kind = ks_classify(ctx, &cfg, REALM, p, &r);
    if (rule != NULL)
        *rule = (r == NULL) ? -1 : (int)(r - cfg.services);
    if (kind != KS_KIND_SERVICE)
        ck_assert_ptr_null(r);
    /* rule_out is optional. */
    ck_assert_int_eq(ks_classify(ctx, &cfg, REALM, p, NULL), kind);
    krb5_free_principal(ctx, p);
    return kind;
}

/* Assert that name s classifies as want. */
#define ck_kind(s, want) \
    ck_assert_msg(classify((s), NULL) == (want), "%s: kind %d, want %d", \
                  (s), (int)classify((s), NULL), (int)(want))

/* Assert that name s is a service matching rule index want. */
static void
ck_service_rule(const char *s, int want)
{
    int rule = -2;

    ck_assert_msg(classify(s, &rule) == KS_KIND_SERVICE, "%s: not a service",
                  s);
    ck_assert_msg(rule == want, "%s: rule %d, want %d", s, rule, want);
}

START_TEST(test_device_id_length)
{
    char id[KS_DEVICE_ID_MAX + 2];

    memset(id, 'a', sizeof(id));
    ck_assert(!ks_device_id_valid(id, 0));
    ck_assert(ks_device_id_valid(id, 1));
    ck_assert(ks_device_id_valid(id, 63));
    ck_assert(ks_device_id_valid(id, 64));
    ck_assert(!ks_device_id_valid(id, 65));
    ck_assert_int_eq(KS_DEVICE_ID_MAX, 64);
    /* Only len bytes count: the 'a' after them is not read as part. */
    ck_assert(ks_device_id_valid("a/", 1));
}
END_TEST

START_TEST(test_device_id_charset)
{
    static const char *const good[] = {
        "a", "Z", "0", "9", "d1", "AbC-12", "a.b_c:d-e", "00:11:22:33:44:55",
        "modem.example", "a--", "a..", "a::", "a__",
    };
    static const char *const bad[] = {
        ".a", "-a", "_a", ":a", "a/b", "a b", "a@b", "a\\b", "a\tb", "a+b",
        "a*", "a?", "a,b", "\xc3\xa9t\xc3\xa9", "a\xff", "a\x7f", "A\n",
    };
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(*good); i++)
        ck_assert_msg(ks_device_id_valid(good[i], strlen(good[i])),
                      "'%s' refused", good[i]);
    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        ck_assert_msg(!ks_device_id_valid(bad[i], strlen(bad[i])),
                      "'%s' accepted", bad[i]);
    /* An embedded NUL is not part of the charset. */
    ck_assert(!ks_device_id_valid("a\0b", 3));
    ck_assert(!ks_device_id_valid("\0", 1));
}
END_TEST

START_TEST(test_realm_principals)
{
    ck_kind("krbtgt/" REALM "@" REALM, KS_KIND_KRBTGT);
    ck_kind("devreg/" REALM "@" REALM, KS_KIND_DEVREG);
    /* Cross-realm TGS principals are not served. */
    ck_kind("krbtgt/OTHER.TEST@" REALM, KS_KIND_NONE);
    ck_kind("krbtgt/" REALM "@OTHER.TEST", KS_KIND_NONE);
    ck_kind("krbtgt/example.test@" REALM, KS_KIND_NONE);
    ck_kind("krbtgt@" REALM, KS_KIND_NONE);
    ck_kind("krbtgt/" REALM "/x@" REALM, KS_KIND_NONE);
    ck_kind("devreg/OTHER.TEST@" REALM, KS_KIND_NONE);
    ck_kind("devreg@" REALM, KS_KIND_NONE);
    ck_kind("devreg/" REALM "/x@" REALM, KS_KIND_NONE);
}
END_TEST

START_TEST(test_devices)
{
    char name[200];

    ck_kind("device/d1@" REALM, KS_KIND_DEVICE);
    ck_kind("device/00:11:22:33:44:55@" REALM, KS_KIND_DEVICE);
    ck_kind("device/.d1@" REALM, KS_KIND_NONE);
    ck_kind("device/d\\ 1@" REALM, KS_KIND_NONE);
    ck_kind("device/d1/x@" REALM, KS_KIND_NONE);
    ck_kind("device@" REALM, KS_KIND_NONE);
    ck_kind("device/@" REALM, KS_KIND_NONE);
    ck_kind("device/d1@OTHER.TEST", KS_KIND_NONE);
    /* The namespace is case-sensitive: Device/d1 is an ordinary name (and
     * here the catch-all rule makes it a service). */
    ck_service_rule("Device/d1@" REALM, 5);

    snprintf(name, sizeof(name), "device/%.*s@%s", 64,
             "0123456789012345678901234567890123456789012345678901234567890123"
             "4", REALM);
    ck_kind(name, KS_KIND_DEVICE);
    snprintf(name, sizeof(name), "device/%.*s@%s", 65,
             "0123456789012345678901234567890123456789012345678901234567890123"
             "4", REALM);
    ck_kind(name, KS_KIND_NONE);
}
END_TEST

START_TEST(test_other_namespace)
{
    free(cfg.device_namespace);
    cfg.device_namespace = strdup("modem");
    ck_kind("modem/d1@" REALM, KS_KIND_DEVICE);
    ck_kind("modem/-bad@" REALM, KS_KIND_NONE);
    /* device/ is no longer special. */
    ck_service_rule("device/d1@" REALM, 5);
}
END_TEST

START_TEST(test_master_and_kadmin)
{
    ck_kind("K/M@" REALM, KS_KIND_MASTER);
    ck_kind("K/M@OTHER.TEST", KS_KIND_NONE);
    ck_kind("K/X@" REALM, KS_KIND_NONE);
    ck_kind("K/M/x@" REALM, KS_KIND_NONE);
    ck_kind("K@" REALM, KS_KIND_NONE);
    /* Reserved first components never match the catch-all glob. */
    ck_kind("kadmin/admin@" REALM, KS_KIND_NONE);
    ck_kind("kadmin/changepw@" REALM, KS_KIND_NONE);
    ck_kind("kadmin/history@" REALM, KS_KIND_NONE);
    ck_kind("kadmin/kdc.example.test@" REALM, KS_KIND_NONE);
}
END_TEST

START_TEST(test_service_globs)
{
    ck_service_rule("host/a@" REALM, 0);
    ck_service_rule("host/a.example.test@" REALM, 0);
    /* The first matching rule wins, even when a later one is exact. */
    ck_service_rule("host/special.example.test@" REALM, 0);
    ck_service_rule("HTTP/www.example.test@" REALM, 2);
    ck_service_rule("HTTP/www.example.org@" REALM, 5);
    ck_service_rule("ldap/x/" REALM "@" REALM, 3);
    ck_service_rule("xmpp/chat@" REALM, 4);
    ck_service_rule("sip/a@" REALM, 5);
    /* FNM_PATHNAME: '*' does not cross '/'. */
    ck_kind("host/a/b@" REALM, KS_KIND_NONE);
    ck_kind("HTTP/a/b.example.test@" REALM, KS_KIND_NONE);
    ck_kind("ldap/x/OTHER.TEST@" REALM, KS_KIND_NONE);
    /* One-component names match no two-component glob. */
    ck_kind("host@" REALM, KS_KIND_NONE);
    ck_kind("alice@" REALM, KS_KIND_NONE);
    /* Wrong realm. */
    ck_kind("host/a@OTHER.TEST", KS_KIND_NONE);
    ck_kind("host/a@example.test", KS_KIND_NONE);
}
END_TEST

START_TEST(test_rule_attributes)
{
    krb5_principal p;
    const struct ks_service_rule *r = NULL;

    ck_assert_int_eq(krb5_parse_name(ctx, "HTTP/www.example.test@" REALM, &p),
                     0);
    ck_assert_int_eq(ks_classify(ctx, &cfg, REALM, p, &r), KS_KIND_SERVICE);
    ck_assert_ptr_eq(r, &cfg.services[2]);
    ck_assert_str_eq(r->pattern, "HTTP/*.example.test");
    ck_assert_uint_eq(r->nattrs, 2);
    ck_assert_str_eq(r->attr_names[0], "a");
    ck_assert_str_eq(r->attr_values[0], "1");
    ck_assert_str_eq(r->attr_names[1], "b");
    ck_assert_str_eq(r->attr_values[1], "2");
    krb5_free_principal(ctx, p);

    ck_assert_int_eq(krb5_parse_name(ctx, "host/a@" REALM, &p), 0);
    ck_assert_int_eq(ks_classify(ctx, &cfg, REALM, p, &r), KS_KIND_SERVICE);
    ck_assert_uint_eq(r->nattrs, 1);
    ck_assert_str_eq(r->attr_names[0], "require_auth");
    ck_assert_str_eq(r->attr_values[0], "devreg-provisioned");
    krb5_free_principal(ctx, p);
}
END_TEST

START_TEST(test_no_service_rules)
{
    cfg.nservices = 0;
    ck_kind("host/a@" REALM, KS_KIND_NONE);
    ck_kind("krbtgt/" REALM "@" REALM, KS_KIND_KRBTGT);
    ck_kind("device/d1@" REALM, KS_KIND_DEVICE);
    cfg.nservices = NRULES;
}
END_TEST

START_TEST(test_odd_principals)
{
    krb5_data comps[2];
    krb5_principal p = NULL;
    static const char nul_id[] = { 'd', '\0', '1' };

    /* NULL and zero-component principals. */
    ck_assert_int_eq(ks_classify(ctx, &cfg, REALM, NULL, NULL), KS_KIND_NONE);
    ck_assert_int_eq(krb5_build_principal_ext(ctx, &p, strlen(REALM), REALM,
                                              0), 0);
    ck_assert_int_eq(ks_classify(ctx, &cfg, REALM, p, NULL), KS_KIND_NONE);
    krb5_free_principal(ctx, p);

    /* A device id with an embedded NUL is not a device. */
    ck_assert_int_eq(krb5_build_principal_ext(ctx, &p, strlen(REALM), REALM,
                                              6, "device", 3, nul_id, 0), 0);
    ck_assert_int_eq(ks_classify(ctx, &cfg, REALM, p, NULL), KS_KIND_NONE);
    krb5_free_principal(ctx, p);

    /* "krbtgt\0x" is not krbtgt. */
    comps[0].data = (char *)"krbtgt\0x";
    comps[0].length = 8;
    comps[1].data = (char *)REALM;
    comps[1].length = strlen(REALM);
    ck_assert_int_eq(krb5_build_principal_ext(ctx, &p, strlen(REALM), REALM,
                                              comps[0].length, comps[0].data,
                                              comps[1].length, comps[1].data,
                                              0), 0);
    ck_assert_int_ne(ks_classify(ctx, &cfg, REALM, p, NULL), KS_KIND_KRBTGT);
    krb5_free_principal(ctx, p);

    /* A realm with a NUL after REALM is another realm. */
    ck_assert_int_eq(krb5_build_principal_ext(ctx, &p, strlen(REALM) + 2,
                                              REALM "\0X", 4, "host", 1, "a",
                                              0), 0);
    ck_assert_int_eq(ks_classify(ctx, &cfg, REALM, p, NULL), KS_KIND_NONE);
    krb5_free_principal(ctx, p);
}
END_TEST

START_TEST(test_kind_names)
{
    ck_assert_str_eq(ks_kind_name(KS_KIND_KRBTGT), "realm TGS principal");
    ck_assert_str_eq(ks_kind_name(KS_KIND_DEVICE), "device principal");
    ck_assert_str_eq(ks_kind_name(KS_KIND_SERVICE),
                     "derived service principal");
    ck_assert_str_eq(ks_kind_name(KS_KIND_NONE), "unknown principal");
    ck_assert_ptr_nonnull(ks_kind_name(KS_KIND_DEVREG));
    ck_assert_ptr_nonnull(ks_kind_name(KS_KIND_MASTER));
}
END_TEST

/* Every names test, grouped by concern. */
static Suite *
names_suite(void)
{
    Suite *s = suite_create("names");
    TCase *tc;

    tc = tcase_create("device_id");
    tcase_add_test(tc, test_device_id_length);
    tcase_add_test(tc, test_device_id_charset);
    suite_add_tcase(s, tc);

    tc = tcase_create("classify");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_realm_principals);
    tcase_add_test(tc, test_devices);
    tcase_add_test(tc, test_other_namespace);
    tcase_add_test(tc, test_master_and_kadmin);
    tcase_add_test(tc, test_service_globs);
    tcase_add_test(tc, test_rule_attributes);
    tcase_add_test(tc, test_no_service_rules);
    tcase_add_test(tc, test_odd_principals);
    tcase_add_test(tc, test_kind_names);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return unit_run(names_suite());
}
