/*
 * kstateless tempkeys: the temporary server keys in the store of
 * state_dir (the tempkeys and tempkey_meta tables, see ks_store.h).
 *
 *   tempkeys list [PRINC]    a header, then one line per key id:
 *                            principal, key id, registered and expiry
 *                            (UTC), "expired" when it is; never key bytes
 *   tempkeys purge           remove every expired key (the principals'
 *                            highest key ids stay: ids never go back)
 *   tempkeys purge PRINC     remove all keys of PRINC and its highest key
 *                            id: it may register from key id 1 again
 *
 * Neither needs the realm secret: the keys stay wrapped.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kstateless.h"
#include "ks_config.h"
#include "ks_store.h"

static const char tempkeys_usage[] =
    "usage: kstateless tempkeys list [PRINCIPAL]\n"
    "       kstateless tempkeys purge [PRINCIPAL]\n";

/* Open the store of the realm's state_dir. */
static krb5_error_code
open_store(struct kst_ctx *kc, struct ks_store **out)
{
    struct ks_config *cfg = NULL;
    krb5_error_code ret;

    ret = ks_config_load(kc->kctx, kc->section, &cfg);
    if (!ret)
        ret = ks_store_open(kc->kctx, cfg->state_dir, 0, out);
    if (ret)
        kst_error(kc, ret, "");
    ks_config_free(cfg);
    return ret;
}

/* Format t as YYYY-MM-DDTHH:MM:SSZ into buf. */
static void
format_time(time_t t, char *buf, size_t len)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL ||
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "@%lld", (long long)t);
}

/* The unparsed name (with realm, default realm when absent) of arg into
 * *out; 1 with a message if it does not parse. */
static int
canonical_name(struct kst_ctx *kc, const char *arg, char **out)
{
    krb5_principal p = NULL;
    krb5_error_code ret;

    *out = NULL;
    ret = krb5_parse_name(kc->kctx, arg, &p);
    if (!ret)
        ret = krb5_unparse_name(kc->kctx, p, out);
    krb5_free_principal(kc->kctx, p);
    if (ret) {
        kst_error(kc, ret, "cannot parse principal '%s'", arg);
        return 1;
    }
    return 0;
}

/* Print the keys of name (NULL: every principal). */
static int
tempkeys_list(struct kst_ctx *kc, struct ks_store *store, const char *name)
{
    struct ks_tempkey_info *list = NULL;
    size_t n = 0, i;
    krb5_error_code ret;
    time_t now = time(NULL);
    char reg[32], exp[32];

    ret = ks_store_tempkey_list(kc->kctx, store, name, &list, &n);
    if (ret) {
        kst_error(kc, ret, "");
        return 1;
    }
    printf("PRINCIPAL KEY-ID REGISTERED EXPIRY\n");
    for (i = 0; i < n; i++) {
        format_time(list[i].registered, reg, sizeof(reg));
        format_time(list[i].expiry, exp, sizeof(exp));
        printf("%s %lu %s %s%s\n", list[i].principal,
               (unsigned long)list[i].key_id, reg, exp,
               list[i].expiry <= now ? " expired" : "");
    }
    ks_tempkey_info_free(list, n);
    return 0;
}

/* Remove the expired keys, or all keys of name. */
static int
tempkeys_purge(struct kst_ctx *kc, struct ks_store *store, const char *name)
{
    krb5_error_code ret;
    size_t removed = 0;

    ret = ks_store_tempkey_purge(kc->kctx, store, name, time(NULL),
                                 &removed);
    if (ret) {
        kst_error(kc, ret, "");
        return 1;
    }
    /* One fixed form whatever N, for scripts that match it. */
    if (name == NULL) {
        printf("purged %zu expired temporary keys\n", removed);
    } else {
        printf("purged %zu temporary keys of %s and its highest key id "
               "(it may register from key id 1 again)\n", removed, name);
    }
    return 0;
}

int
kst_cmd_tempkeys(struct kst_ctx *kc, int argc, char **argv)
{
    static const struct option opts[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    struct ks_store *store = NULL;
    const char *action;
    char *name = NULL;
    int c, status;

    optind = 0;                 /* reinitialise for the subcommand */
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(tempkeys_usage, stdout);
            return 0;
        default:
            fputs(tempkeys_usage, stderr);
            return 2;
        }
    }
    if (optind >= argc || argc - optind > 2) {
        fputs(tempkeys_usage, stderr);
        return 2;
    }
    action = argv[optind];
    if (strcmp(action, "list") != 0 && strcmp(action, "purge") != 0) {
        fprintf(stderr, "kstateless: unknown tempkeys command '%s'\n",
                action);
        fputs(tempkeys_usage, stderr);
        return 2;
    }
    if (argc - optind == 2 && canonical_name(kc, argv[optind + 1], &name))
        return 1;
    if (open_store(kc, &store) != 0) {
        krb5_free_unparsed_name(kc->kctx, name);
        return 1;
    }
    if (strcmp(action, "list") == 0)
        status = tempkeys_list(kc, store, name);
    else
        status = tempkeys_purge(kc, store, name);
    ks_store_close(store);
    krb5_free_unparsed_name(kc->kctx, name);
    return status;
}
