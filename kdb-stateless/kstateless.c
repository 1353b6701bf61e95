/*
 * kstateless: administration of the stateless KDB backend.
 *
 * Reads the realm's kdc.conf through KRB5_KDC_PROFILE (default
 * /etc/krb5kdc/kdc.conf) and krb5.conf through KRB5_CONFIG, as kdb5_util
 * does, and dispatches to one subcommand.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <profile.h>

#include "kstateless.h"
#include "ks_err.h"

#define DEFAULT_KDC_PROFILE "/etc/krb5kdc/kdc.conf"
#define DEFAULT_KRB5_CONFIG "/etc/krb5.conf"

static const struct {
    const char *name;
    int (*fn)(struct kst_ctx *, int, char **);
    const char *usage;
} commands[] = {
    { "init", kst_cmd_init, "init" },
    { "check-value", kst_cmd_check_value, "check-value" },
    { "keytab", kst_cmd_keytab, "keytab -k KEYTAB PRINCIPAL..." },
    { "stage", kst_cmd_stage,
      "stage add DEVICE-ID --pubkey FILE [--profile NAME] [--replace]" },
    { "stage", kst_cmd_stage, "stage del DEVICE-ID" },
    { "stage", kst_cmd_stage, "stage list" },
    { "provision", kst_cmd_provision, "provision DEVICE-ID" },
    { "provision", kst_cmd_provision, "provision --remove DEVICE-ID" },
    { "provision", kst_cmd_provision, "provision --list" },
    { "tempkeys", kst_cmd_tempkeys, "tempkeys list [PRINCIPAL]" },
    { "tempkeys", kst_cmd_tempkeys, "tempkeys purge [PRINCIPAL]" },
};

static void
usage(FILE *f)
{
    size_t i;

    fprintf(f, "usage: kstateless [-r REALM] COMMAND [ARGS]\n");
    for (i = 0; i < sizeof(commands) / sizeof(*commands); i++)
        fprintf(f, "       kstateless [-r REALM] %s\n", commands[i].usage);
    fprintf(f, "Reads kdc.conf from KRB5_KDC_PROFILE (default %s).\n",
            DEFAULT_KDC_PROFILE);
}

void
kst_error(struct kst_ctx *kc, krb5_error_code code, const char *fmt, ...)
{
    va_list ap;
    const char *msg;

    fprintf(stderr, "kstateless: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (code) {
        msg = krb5_get_error_message(kc->kctx, code);
        fprintf(stderr, "%s%s", *fmt ? ": " : "", msg);
        krb5_free_error_message(kc->kctx, msg);
    }
    fprintf(stderr, "\n");
}

/* Open a krb5 context whose profile holds kdc.conf and krb5.conf. */
static krb5_error_code
open_context(krb5_context *out)
{
    const char *kdc = getenv("KRB5_KDC_PROFILE");
    const char *krb = getenv("KRB5_CONFIG");
    profile_t profile = NULL;
    char *path = NULL;
    krb5_error_code ret;

    if (kdc == NULL)
        kdc = DEFAULT_KDC_PROFILE;
    if (krb == NULL)
        krb = DEFAULT_KRB5_CONFIG;
    if (asprintf(&path, "%s:%s", kdc, krb) < 0)
        return ENOMEM;
    ret = profile_init_path(path, &profile);
    free(path);
    if (ret)
        return ret;
    ret = krb5_init_context_profile(profile, 0, out);
    profile_release(profile);
    return ret;
}

int
main(int argc, char **argv)
{
    struct kst_ctx kc = { 0 };
    krb5_error_code ret;
    const char *realm = NULL;
    size_t i;
    int c, status = 1;

    while ((c = getopt(argc, argv, "+r:h")) != -1) {
        switch (c) {
        case 'r':
            realm = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    for (i = 0; i < sizeof(commands) / sizeof(*commands); i++) {
        if (strcmp(argv[optind], commands[i].name) == 0)
            break;
    }
    if (i == sizeof(commands) / sizeof(*commands)) {
        fprintf(stderr, "kstateless: unknown command '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    add_error_table(&et_kstl_error_table);
    ret = open_context(&kc.kctx);
    if (ret) {
        fprintf(stderr, "kstateless: cannot read kdc.conf/krb5.conf: %s\n",
                error_message(ret));
        return 1;
    }
    if (realm != NULL)
        ret = krb5_set_default_realm(kc.kctx, realm);
    if (!ret)
        ret = krb5_get_default_realm(kc.kctx, &kc.realm);
    if (ret) {
        kst_error(&kc, ret, "no realm (give -r REALM or set default_realm)");
        goto cleanup;
    }
    ret = ks_config_section_for_realm(kc.kctx, kc.realm, &kc.section);
    if (ret) {
        kst_error(&kc, ret, "reading the realm's database_module");
        goto cleanup;
    }
    status = commands[i].fn(&kc, argc - optind, argv + optind);

cleanup:
    free(kc.section);
    if (kc.realm != NULL)
        krb5_free_default_realm(kc.kctx, kc.realm);
    krb5_free_context(kc.kctx);
    return status;
}
