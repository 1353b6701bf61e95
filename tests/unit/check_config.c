/*
 * Unit tests of the configuration (lib/ks_config.h): [dbmodules] sections
 * written to temporary krb5.conf files and loaded with ks_config_load(),
 * every key and its defaults, every error and the message naming its key,
 * tempkey_services globs and their refusals, supported_enctypes and krb5
 * durations.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <krb5/krb5.h>

#include "ks_config.h"
#include "ks_err.h"
#include "unit_util.h"

static char *basedir, *tmpdir;
static krb5_context ctx;

/* One directory for the whole run, made and removed by the parent process,
 * so that a failing test (whose teardown does not run) leaves nothing. */
static void
setup_basedir(void)
{
    basedir = unit_mkdtemp(NULL);
}

/* Remove the run's directory and whatever failed tests left in it. */
static void
teardown_basedir(void)
{
    unit_rmtree(basedir);
    free(basedir);
}

/* Each test gets its own directory for its krb5.conf. */
static void
setup(void)
{
    tmpdir = unit_mkdtemp(basedir);
    ctx = NULL;
}

/* Free the test's context and remove its directory. */
static void
teardown(void)
{
    if (ctx != NULL)
        krb5_free_context(ctx);
    ctx = NULL;
    unit_rmtree(tmpdir);
    free(tmpdir);
}

/* Load [dbmodules] stateless from a profile made of text. */
static krb5_error_code
load(const char *text, struct ks_config **cfg)
{
    if (ctx != NULL)
        krb5_free_context(ctx);
    ctx = unit_context_from_profile(tmpdir, text);
    return ks_config_load(ctx, "stateless", cfg);
}

/* Load a profile whose stateless section holds body; expect failure with
 * KSTL_BAD_CONFIG and a message containing each of the NULL-terminated
 * strings that follow. */
static void
expect_error(const char *body, ...)
{
    struct ks_config *cfg = (struct ks_config *)1;
    char *text;
    const char *msg, *want;
    krb5_error_code ret;
    va_list ap;

    ck_assert_int_ge(asprintf(&text, "[dbmodules]\n stateless = {\n"
                              "  db_library = stateless\n%s\n }\n", body), 0);
    ret = load(text, &cfg);
    ck_assert_msg(ret == KSTL_BAD_CONFIG, "config '%s' gave %ld, not "
                  "KSTL_BAD_CONFIG", body, (long)ret);
    ck_assert_ptr_null(cfg);
    msg = unit_errmsg(ctx, KSTL_BAD_CONFIG);
    ck_assert_msg(strncmp(msg, "stateless: ", 11) == 0,
                  "message '%s' does not start with 'stateless: '", msg);
    va_start(ap, body);
    while ((want = va_arg(ap, const char *)) != NULL) {
        ck_assert_msg(strstr(msg, want) != NULL,
                      "message '%s' lacks '%s' (config: %s)", msg, want,
                      body);
    }
    va_end(ap);
    free(text);
}

/* Load a profile whose stateless section holds body; expect success. */
static struct ks_config *
expect_ok(const char *body)
{
    struct ks_config *cfg = NULL;
    char *text;
    krb5_error_code ret;

    ck_assert_int_ge(asprintf(&text, "[dbmodules]\n stateless = {\n"
                              "  db_library = stateless\n%s\n }\n", body), 0);
    ret = load(text, &cfg);
    ck_assert_msg(ret == 0, "config '%s' refused: %s", body,
                  unit_errmsg(ctx, ret));
    ck_assert_ptr_nonnull(cfg);
    free(text);
    return cfg;
}

/* Check that cfg holds every default value. */
static void
assert_defaults(const struct ks_config *cfg)
{
    ck_assert_str_eq(cfg->section, "stateless");
    ck_assert_str_eq(cfg->secret_file, "/etc/krb5kdc/stateless.secret");
    ck_assert_str_eq(cfg->state_dir, "/var/lib/krb5kdc/stateless");
    ck_assert_int_eq(cfg->schedule.epoch, 1767225600);
    ck_assert_int_eq(cfg->schedule.period, 7 * 86400);
    ck_assert_uint_eq(cfg->nservices, 0);
    ck_assert_str_eq(cfg->device_namespace, "device");
    ck_assert_int_eq(cfg->device_max_life, 10 * 3600);
    ck_assert_int_eq(cfg->registration_max_life, 30 * 86400);
    ck_assert_uint_eq(cfg->nunprovisioned, 0);
    ck_assert_ptr_null(cfg->unprovisioned_services);
    ck_assert_uint_eq(cfg->ntempkey_services, 0);
    ck_assert_ptr_null(cfg->tempkey_services);
}

START_TEST(test_defaults_without_section)
{
    struct ks_config *cfg = NULL;

    ck_assert_int_eq(load("[libdefaults]\n default_realm = EXAMPLE.TEST\n",
                          &cfg), 0);
    assert_defaults(cfg);
    ks_config_free(cfg);
}
END_TEST

START_TEST(test_defaults_with_section)
{
    struct ks_config *cfg = expect_ok("");

    assert_defaults(cfg);
    ks_config_free(cfg);
}
END_TEST

START_TEST(test_every_key)
{
    struct ks_config *cfg;

    cfg = expect_ok("  secret_file = /srv/kdc/realm.secret\n"
                    "  state_dir = /srv/kdc/state\n"
                    "  key_epoch = 1700000000\n"
                    "  key_period = 1d 12h\n"
                    "  service = host/*\n"
                    "  service = HTTP/*.example.test "
                    "require_auth=devreg-provisioned note=web\n"
                    "  device_namespace = dev_1-x\n"
                    "  device_max_life = 8h\n"
                    "  registration_max_life = 14d\n"
                    "  unprovisioned_services = sip/*\n"
                    "  unprovisioned_services = xmpp/* stun/*\n");
    ck_assert_str_eq(cfg->secret_file, "/srv/kdc/realm.secret");
    ck_assert_str_eq(cfg->state_dir, "/srv/kdc/state");
    ck_assert_int_eq(cfg->schedule.epoch, 1700000000);
    ck_assert_int_eq(cfg->schedule.period, 36 * 3600);
    ck_assert_str_eq(cfg->device_namespace, "dev_1-x");
    ck_assert_int_eq(cfg->device_max_life, 8 * 3600);
    ck_assert_int_eq(cfg->registration_max_life, 14 * 86400);

    ck_assert_uint_eq(cfg->nservices, 2);
    ck_assert_str_eq(cfg->services[0].pattern, "host/*");
    ck_assert_uint_eq(cfg->services[0].nattrs, 0);
    ck_assert_str_eq(cfg->services[1].pattern, "HTTP/*.example.test");
    ck_assert_uint_eq(cfg->services[1].nattrs, 2);
    ck_assert_str_eq(cfg->services[1].attr_names[0], "require_auth");
    ck_assert_str_eq(cfg->services[1].attr_values[0], "devreg-provisioned");
    ck_assert_str_eq(cfg->services[1].attr_names[1], "note");
    ck_assert_str_eq(cfg->services[1].attr_values[1], "web");

    ck_assert_uint_eq(cfg->nunprovisioned, 3);
    ck_assert_str_eq(cfg->unprovisioned_services[0], "sip/*");
    ck_assert_str_eq(cfg->unprovisioned_services[1], "xmpp/*");
    ck_assert_str_eq(cfg->unprovisioned_services[2], "stun/*");
    ck_assert_ptr_null(cfg->unprovisioned_services[3]);
    ks_config_free(cfg);
}
END_TEST

START_TEST(test_end_of_line_comments)
{
    struct ks_config *cfg;

    cfg = expect_ok("  key_period = 1d   # daily\n"
                    "  secret_file = /srv/a#b.secret\t# '#' inside a word\n"
                    "  service = host/* require_auth=x # comment a=b\n"
                    "  service = ldap/*\t#\n"
                    "  unprovisioned_services = sip/* # xmpp/*\n"
                    "  device_namespace = dev   \n");
    ck_assert_int_eq(cfg->schedule.period, 86400);
    ck_assert_str_eq(cfg->secret_file, "/srv/a#b.secret");
    ck_assert_uint_eq(cfg->nservices, 2);
    ck_assert_str_eq(cfg->services[0].pattern, "host/*");
    ck_assert_uint_eq(cfg->services[0].nattrs, 1);
    ck_assert_str_eq(cfg->services[0].attr_values[0], "x");
    ck_assert_str_eq(cfg->services[1].pattern, "ldap/*");
    ck_assert_uint_eq(cfg->services[1].nattrs, 0);
    ck_assert_uint_eq(cfg->nunprovisioned, 1);
    ck_assert_str_eq(cfg->unprovisioned_services[0], "sip/*");
    ck_assert_str_eq(cfg->device_namespace, "dev");
    ks_config_free(cfg);
    /* A value that is only a comment is empty. */
    expect_error("  service = # nothing", "service", "empty value", NULL);
}
END_TEST

START_TEST(test_strip_comment)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "7d # weekly", "7d" },
        { "7d\t#weekly", "7d" },
        { "7d#weekly", "7d#weekly" },
        { "# all comment", "" },
        { "#", "" },
        { "a b  ", "a b" },
        { "a # b # c", "a" },
        { "a#b #c", "a#b" },
        { "", "" },
        { "   ", "" },
    };
    char buf[64];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        snprintf(buf, sizeof(buf), "%s", cases[i].in);
        ks_config_strip_comment(buf);
        ck_assert_msg(strcmp(buf, cases[i].out) == 0,
                      "'%s' stripped to '%s', want '%s'", cases[i].in, buf,
                      cases[i].out);
    }
}
END_TEST

START_TEST(test_other_section_ignored)
{
    struct ks_config *cfg = NULL;

    /* Only the named section counts; another module's keys are not ours. */
    ck_assert_int_eq(load("[dbmodules]\n"
                          " other = {\n  bogus = 1\n  key_period = 1h\n }\n"
                          " stateless = {\n  key_period = 2h\n }\n", &cfg), 0);
    ck_assert_int_eq(cfg->schedule.period, 7200);
    ks_config_free(cfg);
}
END_TEST

START_TEST(test_unknown_key)
{
    expect_error("  bogus = 1", "unknown option 'bogus'",
                 "[dbmodules] stateless", NULL);
    expect_error("  key_period = 7d\n  servce = host/*",
                 "unknown option 'servce'", NULL);
    /* Keys of other sections are not keys of this one. */
    expect_error("  database_module = stateless",
                 "unknown option 'database_module'", NULL);
    /* An unknown subsection is refused like an unknown key. */
    expect_error("  sub = {\n   key_period = 1h\n  }",
                 "unknown option 'sub'", NULL);
}
END_TEST

START_TEST(test_bad_duration)
{
    static const char *const keys[] = {
        "key_period", "device_max_life", "registration_max_life"
    };
    static const char *const values[] = { "abc", "h", "0", "0s", "-5", "-1h" };
    char *body, *quoted;
    size_t k, v;

    for (k = 0; k < sizeof(keys) / sizeof(*keys); k++) {
        for (v = 0; v < sizeof(values) / sizeof(*values); v++) {
            ck_assert_int_ge(asprintf(&body, "  %s = %s", keys[k], values[v]),
                             0);
            ck_assert_int_ge(asprintf(&quoted, "'%s'", values[v]), 0);
            expect_error(body, keys[k], "invalid duration", quoted, NULL);
            free(body);
            free(quoted);
        }
    }
}
END_TEST

START_TEST(test_durations_accepted)
{
    struct ks_config *cfg;

    cfg = expect_ok("  key_period = 3600\n  device_max_life = 90m\n"
                    "  registration_max_life = 1d 2h\n");
    ck_assert_int_eq(cfg->schedule.period, 3600);
    ck_assert_int_eq(cfg->device_max_life, 5400);
    ck_assert_int_eq(cfg->registration_max_life, 86400 + 7200);
    ks_config_free(cfg);
}
END_TEST

START_TEST(test_bad_key_epoch)
{
    expect_error("  key_epoch = abc", "key_epoch", "'abc'",
                 "not a unix time", NULL);
    expect_error("  key_epoch = 17672256OO", "key_epoch", NULL);
    expect_error("  key_epoch = 1767225600s", "key_epoch", NULL);
    expect_error("  key_epoch = -1", "key_epoch", NULL);
    expect_error("  key_epoch = 99999999999999999999999", "key_epoch", NULL);
    expect_error("  key_epoch = 2026-01-01", "key_epoch", NULL);
}
END_TEST

START_TEST(test_key_epoch_range)
{
    struct ks_config *cfg;

    cfg = expect_ok("  key_epoch = 0");
    ck_assert_int_eq(cfg->schedule.epoch, 0);
    ks_config_free(cfg);
    cfg = expect_ok("  key_epoch = 2147483647");
    ck_assert_int_eq(cfg->schedule.epoch, 2147483647);
    ks_config_free(cfg);
    expect_error("  key_epoch = 2147483648", "key_epoch", NULL);
}
END_TEST

START_TEST(test_key_twice)
{
    static const char *const bodies[] = {
        "  secret_file = /a\n  secret_file = /b",
        "  state_dir = /a\n  state_dir = /b",
        "  key_epoch = 1\n  key_epoch = 2",
        "  key_period = 1d\n  key_period = 2d",
        "  device_namespace = a\n  device_namespace = b",
        "  device_max_life = 1h\n  device_max_life = 1h",
        "  registration_max_life = 1d\n  registration_max_life = 2d",
    };
    char key[64];
    size_t i;

    for (i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
        ck_assert_int_eq(sscanf(bodies[i], " %63s", key), 1);
        expect_error(bodies[i], key, "more than once", NULL);
    }
}
END_TEST

START_TEST(test_service_rules_refused)
{
    expect_error("  service = host/*@EXAMPLE.TEST", "service = host/*@",
                 "without realm", NULL);
    expect_error("  service = host/* require_auth", "require_auth",
                 "name=value", NULL);
    expect_error("  service = host/* =x", "name=value", NULL);
    expect_error("  service = host/* a=", "name=value", NULL);
    expect_error("  service = a=b", "principal glob", NULL);
    /* A bad rule after good ones is still refused. */
    expect_error("  service = host/*\n  service = HTTP/* x", "HTTP/* x",
                 NULL);
}
END_TEST

START_TEST(test_tempkey_services)
{
    struct ks_config *cfg;

    cfg = expect_ok("  tempkey_services = HTTP/*.example.test\n"
                    "  tempkey_services = ldap/* imap/mail.example.test "
                    "# a comment\n"
                    "  tempkey_services = a/b/*\n");
    ck_assert_uint_eq(cfg->ntempkey_services, 4);
    ck_assert_str_eq(cfg->tempkey_services[0], "HTTP/*.example.test");
    ck_assert_str_eq(cfg->tempkey_services[1], "ldap/*");
    ck_assert_str_eq(cfg->tempkey_services[2], "imap/mail.example.test");
    ck_assert_str_eq(cfg->tempkey_services[3], "a/b/*");
    ck_assert_ptr_null(cfg->tempkey_services[4]);
    ks_config_free(cfg);

    /* A glob starting like a reserved name is not one ("krbtgtx/"). */
    cfg = expect_ok("  tempkey_services = krbtgtx/* devicex/* Kx/*\n");
    ck_assert_uint_eq(cfg->ntempkey_services, 3);
    ks_config_free(cfg);
}
END_TEST

START_TEST(test_tempkey_services_refused)
{
    expect_error("  tempkey_services = HTTP/*@EXAMPLE.TEST",
                 "tempkey_services = HTTP/*@EXAMPLE.TEST", "without realm",
                 NULL);
    expect_error("  tempkey_services = HTTP/* require_auth=x",
                 "tempkey_services = require_auth=x", "no attributes", NULL);
    expect_error("  tempkey_services = host", "tempkey_services = host",
                 "two or more components", NULL);
    expect_error("  tempkey_services = /x", "two or more components", NULL);
    expect_error("  tempkey_services = host/", "two or more components",
                 NULL);
    expect_error("  tempkey_services = *", "two or more components", NULL);
    expect_error("  tempkey_services = krbtgt/*", "tempkey_services = "
                 "krbtgt/*", "never have temporary keys", NULL);
    expect_error("  tempkey_services = devreg/*", "never have", NULL);
    expect_error("  tempkey_services = kadmin/admin", "never have", NULL);
    expect_error("  tempkey_services = K/M", "never have", NULL);
    expect_error("  tempkey_services = device/*", "tempkey_services = "
                 "device/*", "never have", NULL);
    /* The device namespace in force, wherever it is set. */
    expect_error("  tempkey_services = dev/*\n  device_namespace = dev",
                 "tempkey_services = dev/*", "never have", NULL);
    /* A bad glob after good ones, on the same line. */
    expect_error("  tempkey_services = HTTP/* ldap", "tempkey_services = "
                 "ldap", NULL);
}
END_TEST

START_TEST(test_device_namespace)
{
    static const char *const bad[] = {
        "dev/ice", "dev ice", "dev@R", "d.e", "d\xc3\xa9v",
        "abcdefghijklmnopqrstuvwxyz0123456",            /* 33 */
    };
    struct ks_config *cfg;
    size_t i;
    char *body;

    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        ck_assert_int_ge(asprintf(&body, "  device_namespace = %s", bad[i]),
                         0);
        expect_error(body, "device_namespace", NULL);
        free(body);
    }
    expect_error("  device_namespace = \"\"", "device_namespace", NULL);
    cfg = expect_ok("  device_namespace = abcdefghijklmnopqrstuvwxyz012345");
    ck_assert_str_eq(cfg->device_namespace,
                     "abcdefghijklmnopqrstuvwxyz012345");
    ks_config_free(cfg);
    cfg = expect_ok("  device_namespace = D");
    ck_assert_str_eq(cfg->device_namespace, "D");
    ks_config_free(cfg);
}
END_TEST

START_TEST(test_device_namespace_reserved)
{
    /* A namespace equal to a reserved first component would turn K/M,
     * kadmin/admin or krbtgt/... lookups into device lookups (or hide the
     * devices behind them). */
    static const char *const reserved[] = {
        "krbtgt", "devreg", "kadmin", "K",
    };
    char *body;
    size_t i;

    for (i = 0; i < sizeof(reserved) / sizeof(*reserved); i++) {
        ck_assert_int_ge(asprintf(&body, "  device_namespace = %s",
                                  reserved[i]), 0);
        expect_error(body, "device_namespace", NULL);
        free(body);
    }
}
END_TEST

START_TEST(test_enctypes_default)
{
    krb5_enctype *list = NULL;
    size_t n = 0;

    ctx = unit_context_from_profile(tmpdir, "[realms]\n EXAMPLE.TEST = {\n"
                                    "  kdc = 127.0.0.1\n }\n");
    ck_assert_int_eq(ks_config_enctypes(ctx, "EXAMPLE.TEST", &list, &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(list[0], ENCTYPE_AES256_CTS_HMAC_SHA1_96);
    ck_assert_int_eq(list[1], ENCTYPE_AES128_CTS_HMAC_SHA1_96);
    ck_assert_int_eq(list[2], ENCTYPE_AES256_CTS_HMAC_SHA384_192);
    ck_assert_int_eq(list[3], ENCTYPE_AES128_CTS_HMAC_SHA256_128);
    ck_assert_int_eq(list[4], 0);
    free(list);
}
END_TEST

START_TEST(test_enctypes_parsed)
{
    krb5_enctype *list = NULL;
    size_t n = 0;

    ctx = unit_context_from_profile(tmpdir, "[realms]\n EXAMPLE.TEST = {\n"
                                    "  supported_enctypes = "
                                    "aes256-cts-hmac-sha1-96:normal "
                                    "aes128-cts:special\n }\n");
    ck_assert_int_eq(ks_config_enctypes(ctx, "EXAMPLE.TEST", &list, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(list[0], ENCTYPE_AES256_CTS_HMAC_SHA1_96);
    ck_assert_int_eq(list[1], ENCTYPE_AES128_CTS_HMAC_SHA1_96);
    ck_assert_int_eq(list[2], 0);
    free(list);
}
END_TEST

START_TEST(test_enctypes_commas_and_duplicates)
{
    krb5_enctype *list = NULL;
    size_t n = 0;

    ctx = unit_context_from_profile(tmpdir, "[realms]\n EXAMPLE.TEST = {\n"
                                    "  supported_enctypes = aes256-sha2,"
                                    "aes128-sha2:normal aes256-sha2:special "
                                    "aes256-cts\n }\n");
    ck_assert_int_eq(ks_config_enctypes(ctx, "EXAMPLE.TEST", &list, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(list[0], ENCTYPE_AES256_CTS_HMAC_SHA384_192);
    ck_assert_int_eq(list[1], ENCTYPE_AES128_CTS_HMAC_SHA256_128);
    ck_assert_int_eq(list[2], ENCTYPE_AES256_CTS_HMAC_SHA1_96);
    ck_assert_int_eq(list[3], 0);
    free(list);
}
END_TEST

START_TEST(test_enctypes_unknown)
{
    krb5_enctype *list = (krb5_enctype *)1;
    size_t n = 7;
    const char *msg;

    ctx = unit_context_from_profile(tmpdir, "[realms]\n EXAMPLE.TEST = {\n"
                                    "  supported_enctypes = aes256-cts:normal "
                                    "aes512-cts:normal\n }\n");
    ck_assert_int_eq(ks_config_enctypes(ctx, "EXAMPLE.TEST", &list, &n),
                     KSTL_BAD_CONFIG);
    ck_assert_ptr_null(list);
    ck_assert_uint_eq(n, 0);
    msg = unit_errmsg(ctx, KSTL_BAD_CONFIG);
    ck_assert_msg(strstr(msg, "'aes512-cts'") != NULL &&
                  strstr(msg, "supported_enctypes") != NULL &&
                  strstr(msg, "EXAMPLE.TEST") != NULL, "message: %s", msg);
}
END_TEST

START_TEST(test_enctypes_other_realm)
{
    krb5_enctype *list = NULL;
    size_t n = 0;

    /* Another realm's supported_enctypes does not apply. */
    ctx = unit_context_from_profile(tmpdir, "[realms]\n OTHER.TEST = {\n"
                                    "  supported_enctypes = aes128-cts\n"
                                    " }\n");
    ck_assert_int_eq(ks_config_enctypes(ctx, "EXAMPLE.TEST", &list, &n), 0);
    ck_assert_uint_eq(n, 4);
    free(list);
}
END_TEST

START_TEST(test_section_for_realm)
{
    char *section = NULL;

    ctx = unit_context_from_profile(tmpdir, "[realms]\n EXAMPLE.TEST = {\n"
                                    "  database_module = statelessdb\n }\n");
    ck_assert_int_eq(ks_config_section_for_realm(ctx, "EXAMPLE.TEST",
                                                 &section), 0);
    ck_assert_str_eq(section, "statelessdb");
    free(section);
    /* Without database_module, libkdb5 uses the realm name. */
    ck_assert_int_eq(ks_config_section_for_realm(ctx, "OTHER.TEST",
                                                 &section), 0);
    ck_assert_str_eq(section, "OTHER.TEST");
    free(section);
}
END_TEST

/* ks_parse_duration of s: expect success with value want. */
static void
duration_ok(const char *s, krb5_deltat want)
{
    krb5_deltat d = -1;

    ck_assert_msg(ks_parse_duration(s, &d) == 0, "'%s' refused", s);
    ck_assert_msg(d == want, "'%s' gave %ld, want %ld", s, (long)d,
                  (long)want);
}

/* ks_parse_duration of s: expect KSTL_BAD_CONFIG, *out untouched. */
static void
duration_bad(const char *s)
{
    krb5_deltat d = 12345;

    ck_assert_msg(ks_parse_duration(s, &d) == KSTL_BAD_CONFIG,
                  "'%s' accepted", s);
    ck_assert_int_eq(d, 12345);
}

START_TEST(test_parse_duration)
{
    duration_ok("10h", 36000);
    duration_ok("7d", 604800);
    duration_ok("1d 2h", 93600);
    duration_ok("1d2h3m4s", 93784);
    duration_ok("3600", 3600);
    duration_ok("1", 1);
    duration_ok("30m", 1800);
    duration_ok("1:00:00", 3600);
    duration_bad("0");
    duration_bad("0h");
    duration_bad("abc");
    duration_bad("");
    duration_bad("-1");
    duration_bad("h");
    duration_bad("99999999999");
}
END_TEST

START_TEST(test_parse_duration_trailing_garbage)
{
    /* krb5_string_to_deltat() stops at the first character it does not
     * know and returns what it parsed so far: "1y" would be one second and
     * "1.5h" one second.  A duration must be all duration syntax. */
    duration_bad("7x");
    duration_bad("1y");
    duration_bad("1.5h");
    duration_bad("10hx");
    duration_bad("10h;");
}
END_TEST

START_TEST(test_config_duration_trailing_garbage)
{
    expect_error("  registration_max_life = 1y", "registration_max_life",
                 "invalid duration", "'1y'", NULL);
    expect_error("  device_max_life = 1.5h", "device_max_life",
                 "invalid duration", "'1.5h'", NULL);
}
END_TEST

/* Every config test, grouped by concern. */
static Suite *
config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc;

    tc = tcase_create("load");
    tcase_add_unchecked_fixture(tc, setup_basedir, teardown_basedir);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_defaults_without_section);
    tcase_add_test(tc, test_defaults_with_section);
    tcase_add_test(tc, test_every_key);
    tcase_add_test(tc, test_other_section_ignored);
    tcase_add_test(tc, test_end_of_line_comments);
    tcase_add_test(tc, test_strip_comment);
    tcase_add_test(tc, test_durations_accepted);
    tcase_add_test(tc, test_key_epoch_range);
    tcase_add_test(tc, test_tempkey_services);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_unchecked_fixture(tc, setup_basedir, teardown_basedir);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_unknown_key);
    tcase_add_test(tc, test_bad_duration);
    tcase_add_test(tc, test_config_duration_trailing_garbage);
    tcase_add_test(tc, test_bad_key_epoch);
    tcase_add_test(tc, test_key_twice);
    tcase_add_test(tc, test_service_rules_refused);
    tcase_add_test(tc, test_tempkey_services_refused);
    tcase_add_test(tc, test_device_namespace);
    tcase_add_test(tc, test_device_namespace_reserved);
    suite_add_tcase(s, tc);

    tc = tcase_create("enctypes");
    tcase_add_unchecked_fixture(tc, setup_basedir, teardown_basedir);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_enctypes_default);
    tcase_add_test(tc, test_enctypes_parsed);
    tcase_add_test(tc, test_enctypes_commas_and_duplicates);
    tcase_add_test(tc, test_enctypes_unknown);
    tcase_add_test(tc, test_enctypes_other_realm);
    tcase_add_test(tc, test_section_for_realm);
    suite_add_tcase(s, tc);

    tc = tcase_create("duration");
    tcase_add_test(tc, test_parse_duration);
    tcase_add_test(tc, test_parse_duration_trailing_garbage);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return unit_run(config_suite());
}
