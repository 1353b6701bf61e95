/*
 * Unit tests of lib/ks_preauth.c, the refusal plumbing devreg and tempkey
 * share: cutting a refusal text at a UTF-8 boundary, and the client's
 * "KDC refused: <text> [<cause>]" message with the KDC's control
 * characters replaced and the message kept for request_fini.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <krb5/krb5.h>

#include "ks_preauth.h"
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

START_TEST(test_cut_short_text_unchanged)
{
    char buf[KS_PREAUTH_TEXT_MAX + 1];

    ks_preauth_cut_text("device d1 is not staged", buf);
    ck_assert_str_eq(buf, "device d1 is not staged");
}
END_TEST

/* An ASCII text longer than the limit is cut to it (minus the character
 * at the cut, as the plugins always did). */
START_TEST(test_cut_long_ascii)
{
    char text[400], buf[KS_PREAUTH_TEXT_MAX + 1];

    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    ks_preauth_cut_text(text, buf);
    ck_assert_uint_le(strlen(buf), KS_PREAUTH_TEXT_MAX);
    ck_assert_uint_ge(strlen(buf), KS_PREAUTH_TEXT_MAX - 1);
    ck_assert(strspn(buf, "a") == strlen(buf));
}
END_TEST

/* A multi-byte character straddling the limit is dropped whole: the
 * result is valid UTF-8 (no lead byte without its continuation bytes). */
START_TEST(test_cut_at_utf8_boundary)
{
    /* "é" is C3 A9, "€" is E2 82 AC. */
    static const char *const chars[] = { "\xc3\xa9", "\xe2\x82\xac" };
    char text[600], buf[KS_PREAUTH_TEXT_MAX + 1];
    size_t prefix, len, i;
    const char *c = chars[_i % 2];

    for (prefix = KS_PREAUTH_TEXT_MAX - 4; prefix <= KS_PREAUTH_TEXT_MAX;
         prefix++) {
        memset(text, 'x', prefix);
        len = prefix;
        while (len + strlen(c) < sizeof(text) - 1) {
            memcpy(text + len, c, strlen(c));
            len += strlen(c);
        }
        text[len] = '\0';
        ks_preauth_cut_text(text, buf);
        len = strlen(buf);
        ck_assert_uint_le(len, KS_PREAUTH_TEXT_MAX);
        /* Walk the result: every sequence is complete. */
        for (i = 0; i < len;) {
            unsigned char b = (unsigned char)buf[i];
            size_t n = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : 3;

            ck_assert_msg(i + n <= len, "cut inside a UTF-8 sequence "
                          "(prefix %zu, length %zu)", prefix, len);
            i += n;
        }
    }
}
END_TEST

/* A protocol whose error e-data is a fixed cause and text. */
static int32_t fake_cause;
static const char *fake_text;

static krb5_error_code
fake_decode(const krb5_pa_data *pa, int32_t *cause_out, char **text_out)
{
    if (pa->pa_type != -7)
        return EINVAL;
    *cause_out = fake_cause;
    *text_out = fake_text != NULL ? strdup(fake_text) : NULL;
    return 0;
}

static const struct ks_preauth_cause fake_list[] = {
    { 3, KRB5KDC_ERR_CLIENT_NOT_TRUSTED, "unknown-thing" },
};

static const struct ks_preauth_causes fake = {
    "fake", -7, fake_list, 1, NULL, fake_decode
};

static krb5_error_code
run_tryagain(struct ks_preauth_refusal *r, krb5_pa_data **padata)
{
    krb5_error err;

    memset(&err, 0, sizeof(err));
    err.error = KRB5KDC_ERR_CLIENT_NOT_TRUSTED - ERROR_TABLE_BASE_krb5;
    return ks_preauth_tryagain(ctx, &fake, r, &err, padata);
}

START_TEST(test_tryagain_message)
{
    struct ks_preauth_refusal r = { 0, NULL };
    krb5_pa_data pa = { KV5M_PA_DATA, -7, 0, NULL }, *list[2] = { &pa, NULL };
    const char *msg;
    krb5_error_code ret;

    fake_cause = 3;
    fake_text = "device\x1b[2J d9\nis not staged";
    ret = run_tryagain(&r, list);
    ck_assert_int_eq(ret, KRB5KDC_ERR_CLIENT_NOT_TRUSTED);
    msg = krb5_get_error_message(ctx, ret);
    ck_assert_str_eq(msg, "KDC refused: device?[2J d9?is not staged "
                     "[unknown-thing]");
    krb5_free_error_message(ctx, msg);
    /* Kept for request_fini, which sets it again after libkrb5 cleared
     * it. */
    ck_assert_ptr_nonnull(r.msg);
    krb5_clear_error_message(ctx);
    ks_preauth_refusal_fini(ctx, &r);
    msg = krb5_get_error_message(ctx, KRB5KDC_ERR_CLIENT_NOT_TRUSTED);
    ck_assert_str_eq(msg, "KDC refused: device?[2J d9?is not staged "
                     "[unknown-thing]");
    krb5_free_error_message(ctx, msg);
}
END_TEST

START_TEST(test_tryagain_without_our_edata)
{
    struct ks_preauth_refusal r = { 0, NULL };
    krb5_pa_data pa = { KV5M_PA_DATA, 19, 0, NULL }, *list[2] = { &pa, NULL };
    krb5_error_code ret;

    ret = run_tryagain(&r, list);
    ck_assert_int_eq(ret, KRB5KDC_ERR_CLIENT_NOT_TRUSTED);
    ck_assert_ptr_null(r.msg);
    ret = run_tryagain(&r, NULL);
    ck_assert_int_eq(ret, KRB5KDC_ERR_CLIENT_NOT_TRUSTED);
    ck_assert_ptr_null(r.msg);
}
END_TEST

static Suite *
preauth_suite(void)
{
    Suite *s = suite_create("preauth");
    TCase *tc = tcase_create("preauth");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_cut_short_text_unchanged);
    tcase_add_test(tc, test_cut_long_ascii);
    tcase_add_loop_test(tc, test_cut_at_utf8_boundary, 0, 2);
    tcase_add_test(tc, test_tryagain_message);
    tcase_add_test(tc, test_tryagain_without_our_edata);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return unit_run(preauth_suite());
}
